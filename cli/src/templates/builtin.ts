/** The templates `karapace new` offers out of the box; config `templates` adds or overrides. */

export interface Template {
  name: string;
  description: string;
  /** Manifest text written as is (after the optional image/packages substitutions). */
  manifest: string;
}

const header = (what: string) => `# karapace.toml — ${what}. Reference: docs/manifest.md\nmanifest_version = 1\n`;

export const BUILTIN_TEMPLATES: Template[] = [
  {
    name: 'minimal',
    description: 'Debian bookworm, nothing installed',
    manifest: `${header('a minimal environment')}
[base]
image = "debian/bookworm"

[system]
packages = []
`,
  },
  {
    name: 'dev',
    description: 'Debian bookworm with git, a C toolchain and common CLI tools; the project mounted at /workspace',
    manifest: `${header('a general development environment')}
[base]
image = "debian/bookworm"

[system]
packages = ["build-essential", "ca-certificates", "curl", "git", "less", "openssh-client", "vim"]

[mounts]
workspace = "./:/workspace"
`,
  },
  {
    name: 'gui-dev',
    description: 'Debian bookworm with GPU and audio passthrough and a desktop app exported to the host',
    manifest: `${header('a development environment with graphical apps')}
[base]
image = "debian/bookworm"

[system]
packages = ["build-essential", "ca-certificates", "git", "gedit"]

[gui]
apps = ["gedit"]

[hardware]
gpu = true
audio = true

[mounts]
workspace = "./:/workspace"
`,
  },
  {
    name: 'rust-dev',
    description: 'Debian bookworm with rustc, cargo and the tools crates usually need',
    manifest: `${header('a Rust development environment')}
[base]
image = "debian/bookworm"

[system]
packages = ["build-essential", "ca-certificates", "cargo", "git", "libssl-dev", "pkg-config", "rustc"]

[mounts]
workspace = "./:/workspace"
`,
  },
  {
    name: 'ubuntu-dev',
    description: 'Ubuntu 24.04 with git and a C toolchain',
    manifest: `${header('an Ubuntu development environment')}
[base]
image = "ubuntu/24.04"

[system]
packages = ["build-essential", "ca-certificates", "curl", "git"]

[mounts]
workspace = "./:/workspace"
`,
  },
];
