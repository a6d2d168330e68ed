import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Built by `npm run build` (and so by `npm ci`) into web/dist, which `nfr serve` serves at `/`.
// Everything the page needs is bundled: no CDN, no web fonts, no inline scripts (the CSP forbids them).
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8080', '/health': 'http://127.0.0.1:8080' } },
});
