/** The ngem release this package belongs to (kept equal to package.json's version by a test). */
export const NGEM_EXPORT_VERSION = "0.1.0";
