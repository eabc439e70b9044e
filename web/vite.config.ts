import { defineConfig } from 'vite';

// One build for every chain: the app reads /config.json at run time (see src/config.ts).
// `base: './'` keeps asset URLs relative, so the app also works when served from a sub-path.
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
    sourcemap: false,
    rolldownOptions: {
      // React Query marks its modules "use client" (a server-components hint with no meaning here).
      onwarn(warning: { code?: string }, warn: (w: unknown) => void) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
  },
} as never);
