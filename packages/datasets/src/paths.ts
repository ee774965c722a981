/** The file name without directory and extension (the default data set name). Internal. */
export function baseName(path: string): string {
  const s = path.replace(/\\/g, "/");
  const b = s.slice(s.lastIndexOf("/") + 1);
  const dot = b.lastIndexOf(".");
  return dot > 0 ? b.slice(0, dot) : b;
}
