import { defineConfig } from "vite";

// base "./": the static build works from any directory of any static server (or a sub-path).
export default defineConfig({
  base: "./",
  build: { target: "es2022", outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1024 },
  worker: { format: "es" },
});
