/**
 * The mock package manager: "installing" a package writes a record file into the upper
 * dir; versions are derived from the package name, so they are the same everywhere.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashBytes, RuntimeFailure, type InstallRequest, type InstallResult } from '@karapace/kernel';

export const MOCK_PACKAGE_DB = 'var/lib/karapace-mock/packages';

export function mockVersion(name: string): string {
  const h = hashBytes(`mock-package:${name}`);
  return `${1 + (parseInt(h.slice(0, 2), 16) % 9)}.${parseInt(h.slice(2, 4), 16) % 20}.${parseInt(h.slice(4, 6), 16) % 10}-mock`;
}

export async function installMockPackages(request: InstallRequest): Promise<InstallResult | undefined> {
  if (request.packageManager !== 'mock') return undefined;
  const db = join(request.env.paths.upper, MOCK_PACKAGE_DB);
  await mkdir(db, { recursive: true });
  const packages = [];
  for (const name of request.packages) {
    if (!/^[a-z0-9][a-z0-9+.-]*$/.test(name)) {
      throw new RuntimeFailure('KP_MOCK_PACKAGE_INVALID', `mock package manager: "${name}" is not a valid package name`, {
        hint: 'package names use lowercase letters, digits, "+", "." and "-"',
      });
    }
    const version = request.pinned?.[name] ?? mockVersion(name);
    await writeFile(join(db, name), `${name} ${version}\n`);
    if (name.endsWith('-app')) await installMockApp(request.env.paths.upper, name, version);
    packages.push({ name, version });
  }
  return { packages };
}

/** A package named `*-app` also ships a desktop entry and an icon, so app export has something to export. */
async function installMockApp(upper: string, name: string, version: string): Promise<void> {
  const applications = join(upper, 'usr/share/applications');
  const pixmaps = join(upper, 'usr/share/pixmaps');
  await mkdir(applications, { recursive: true });
  await mkdir(pixmaps, { recursive: true });
  await writeFile(join(applications, `${name}.desktop`), `[Desktop Entry]\nType=Application\nName=${name}\nComment=mock app ${version}\nExec=${name} %U\nIcon=${name}\nTerminal=false\n`);
  await writeFile(join(pixmaps, `${name}.svg`), `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><title>${name}</title></svg>\n`);
}
