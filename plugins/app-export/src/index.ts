/**
 * @karapace/app-export — apps inside an environment on the host (like `distrobox-export`):
 * desktop entries, icons and wrapper scripts. It taps the kernel's `built` hook (an
 * environment's `[gui] apps` are exported with every build) and `destroy` (what it wrote
 * goes with the environment); `karapace export` / `unexport` call exportApps / unexportApps.
 */
import { definePlugin, storeLayout } from '@karapace/kernel';

export {
  exportApps, unexportApps, exportedApps, exportDirs, exportGuiAppsAfterBuild, removeExportsOf, EXPORT_EXTENSION,
  type ExportedApp, type ExportHost, type ExportOptions, type ExportResult,
} from './export.js';

export const PLUGIN_NAME = 'app-export';

export default definePlugin({
  name: PLUGIN_NAME,
  apply(kernel) {
    const layout = storeLayout(kernel.storeRoot);
    // Loaded on first use: most commands never export anything.
    kernel.hooks.built.tapPromise(PLUGIN_NAME, async ({ env, manifest, host, results }) => {
      if (!manifest.gui.apps.length) return;
      const { exportGuiAppsAfterBuild } = await import('./export.js');
      const exported = await exportGuiAppsAfterBuild({ layout, env: host.env, launcher: host.launcher, kernel, logger: kernel.logger }, env.envId);
      // In the build's result (`extensions["app-export"]`): build writes on the host, and says so.
      if (exported.length) results[PLUGIN_NAME] = { exported };
    });
    kernel.hooks.destroy.tapPromise(PLUGIN_NAME, async (env) => (await import('./export.js')).removeExportsOf(layout, env));
  },
});
