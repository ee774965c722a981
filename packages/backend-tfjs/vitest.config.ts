import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";
import { ngemVitestConfig } from "../../vitest.shared.ts";

// tfjs-webgpu in Node runs on Dawn (the `webgpu` package), which needs a Vulkan
// driver. Without a GPU, Debian's chromium package provides SwiftShader's
// (and a Vulkan loader, for machines without libvulkan1). Set here, before
// vitest forks its test processes, because the loader reads them at start.
const chromiumLib = "/usr/lib/chromium";
if (existsSync(join(chromiumLib, "vk_swiftshader_icd.json")) && !process.env.NGEM_NO_SWIFTSHADER) {
  process.env.VK_ICD_FILENAMES ??= join(chromiumLib, "vk_swiftshader_icd.json");
  const systemLoader = ["/usr/lib/x86_64-linux-gnu/libvulkan.so.1", "/usr/lib/aarch64-linux-gnu/libvulkan.so.1", "/usr/lib/libvulkan.so.1"].some((p) =>
    existsSync(p),
  );
  if (!systemLoader && existsSync(join(chromiumLib, "libvulkan.so.1"))) {
    process.env.LD_LIBRARY_PATH = [chromiumLib, process.env.LD_LIBRARY_PATH].filter(Boolean).join(":");
  }
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), `ngem-xdg-${process.getuid?.() ?? 0}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
}

export default defineConfig(ngemVitestConfig(import.meta.dirname));
