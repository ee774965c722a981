/** The browser-safe entry: parsers for strings, bytes and web streams; no file access. */
import { describe, expect, it } from "vitest";
import * as main from "../src/index.js";
import { DataError, encodeNpy, loadBuiltin, parseCsv, parseCsvBytes, parseCsvStream, parseJsonl, parseJsonlStream, parseNpy } from "../src/index.js";

/** A web ReadableStream of the given byte chunks. */
function streamOf(chunks: (Uint8Array | string)[]): ReadableStream<Uint8Array | string> {
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(ch);
      c.close();
    },
  });
}

/** Splits UTF-8 bytes into chunks of `size` (cutting multi-byte characters). */
function byteChunks(text: string, size: number): Uint8Array[] {
  const b = new TextEncoder().encode(text);
  const out: Uint8Array[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

const CSV = "größe,ü\n1,2\n3.5,-4\n5e-1,6\n";

describe("@ngem/datasets (browser-safe entry)", () => {
  it("exports no file loaders (they are in @ngem/datasets/node)", () => {
    for (const name of ["loadCsv", "loadJsonl", "loadNpy", "loadNpyPair", "readNpy", "loadIdx", "parseIdx", "loadInverseMnist", "readMnistPackage"]) {
      expect(name in main, name).toBe(false);
    }
  });

  it("parseCsvStream reads a web stream of bytes cut inside multi-byte characters, like parseCsv", async () => {
    const want = parseCsv(CSV);
    for (const size of [1, 2, 3, 7, 1000]) {
      const got = await parseCsvStream(streamOf(byteChunks(CSV, size)), { name: "csv" });
      expect(got).toEqual(want);
    }
    expect(want.xNames).toEqual(["größe"]);
  });

  it("parseCsvStream takes async iterables of strings and names errors after opts.file", async () => {
    async function* gen(): AsyncGenerator<string> {
      yield "a,b\n1,";
      yield "2\n3,x\n";
    }
    await expect(parseCsvStream(gen(), { file: "upload.csv" })).rejects.toThrow(/^upload\.csv:3:3 /);
    const ok = await parseCsvStream(streamOf(["a,b\n1,2\n"]), { file: "dir/upload.csv" });
    expect(ok.name).toBe("upload");
  });

  it("parseCsvStream turns a failing source into a DataError", async () => {
    const bad = new ReadableStream<Uint8Array>({
      pull(c) {
        c.error(new Error("network gone"));
      },
    });
    await expect(parseCsvStream(bad, { file: "f.csv" })).rejects.toBeInstanceOf(DataError);
    await expect(parseCsvStream(bad, { file: "f.csv" })).rejects.toThrow(/cannot read the file/);
  });

  it("parseCsvBytes takes an ArrayBuffer", () => {
    const bytes = new TextEncoder().encode(CSV);
    const ds = parseCsvBytes(bytes.slice().buffer);
    expect(ds).toEqual(parseCsv(CSV));
  });

  it("parseJsonlStream matches parseJsonl (CRLF, blank lines, no final newline)", async () => {
    const text = '{"x":1,"y":[2,3]}\r\n\n{"x":4,"y":[5,6]}\n{"x":7,"y":[8,9]}';
    const want = parseJsonl(text);
    for (const size of [1, 4, 100]) expect(await parseJsonlStream(streamOf(byteChunks(text, size)))).toEqual(want);
    await expect(parseJsonlStream(streamOf(['{"x":1}\n', "{bad\n"]), { file: "u.jsonl" })).rejects.toThrow(/^u\.jsonl:2:/);
  });

  it("parseNpy takes an ArrayBuffer", () => {
    const b = encodeNpy([2, 2], [1, 2, 3, 4]);
    const a = parseNpy(b.slice().buffer);
    expect(a.shape).toEqual([2, 2]);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4]);
  });

  it("loadBuiltin generates the synthetic tasks; inverse-mnist points to @ngem/datasets/node", () => {
    expect(loadBuiltin("two-gaussians", { seed: 3 }).n).toBe(100);
    expect(() => loadBuiltin("inverse-mnist")).toThrow(/@ngem\/datasets\/node/);
    expect(() => loadBuiltin("nope")).toThrow(/unknown built-in data set/);
  });
});
