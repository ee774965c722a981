import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { calibrationChart, heatmapChart, histogramChart, lineChart, niceTicks } from "../src/plot/svg.js";

function seriesNames(svg: string): string[] {
  expect(XMLValidator.validate(svg)).toBe(true);
  return [...svg.matchAll(/<g class="series" data-name="([^"]*)"/g)].map((m) => m[1]!);
}

describe("svg plots", () => {
  it("line chart: valid XML, one group per series, bands, escaped names, NaN points skipped", () => {
    const x = [0, 1, 2, 3];
    const svg = lineChart({ title: "NLL <train & val>", xLabel: "step", yLabel: "NLL" }, [
      { name: "ngem", x, y: [3, 2, 1, 0.5], band: { lo: [2.5, 1.5, 0.8, 0.4], hi: [3.5, 2.5, 1.2, 0.6] } },
      { name: 'nll "plain"', x, y: [3, NaN, 2.5, 2] },
    ]);
    expect(seriesNames(svg)).toEqual(["ngem", "nll &quot;plain&quot;"]);
    expect(svg).toContain('class="band"');
    const doc = new XMLParser({ ignoreAttributes: false }).parse(svg);
    expect(doc.svg["@_xmlns"]).toBe("http://www.w3.org/2000/svg");
    const nllLine = svg.split('data-name="nll &quot;plain&quot;"')[1]!.split("</g>")[0]!;
    expect(nllLine.match(/<polyline points="([^"]*)"/)![1]!.split(" ")).toHaveLength(3);
  });

  it("heatmap: nx*ny cells and overlay series", () => {
    const nx = 8,
      ny = 5;
    const values = Array.from({ length: nx * ny }, (_, i) => i);
    const svg = heatmapChart({ title: "density" }, { values, nx, ny, xRange: [-2, 2], yRange: [-1, 1] }, [
      { name: "true modes", kind: "stars", x: [1, -1], y: [0.5, -0.5] },
      { name: "component 1", kind: "path", x: [0, 0.5, 1], y: [0, 0.2, 0.5] },
    ]);
    expect(seriesNames(svg)).toEqual(["true modes", "component 1"]);
    const heat = svg.split('<g class="heatmap"')[1]!.split("</g>")[0]!;
    expect(heat.match(/<rect /g)).toHaveLength(nx * ny);
  });

  it("histogram and calibration charts", () => {
    expect(seriesNames(histogramChart({ title: "PIT" }, [3, 5, 4, 4], 0, 1, 4))).toEqual(["histogram", "uniform"]);
    expect(seriesNames(calibrationChart({ title: "calibration" }, [0.5, 0.8, 0.9], [0.45, 0.82, 0.88]))).toEqual(["ideal", "model"]);
  });

  it("nice ticks cover the range with round steps", () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6000000000000001, 0.8, 1].map((v) => Number(v.toFixed(10))).map((v) => expect.closeTo(v, 9)));
    const t = niceTicks(-3.2, 7.9, 5);
    expect(t[0]).toBeGreaterThanOrEqual(-3.2);
    expect(t[t.length - 1]).toBeLessThanOrEqual(7.9);
    expect(t.length).toBeGreaterThanOrEqual(4);
  });
});

describe("png rendering", () => {
  it("renders a chart to a PNG with the right signature and size", async () => {
    const { svgToPng } = await import("../src/plot/files.js");
    const png = await svgToPng(lineChart({ title: "t", width: 300, height: 200 }, [{ name: "a", x: [0, 1], y: [0, 1] }]));
    expect(Array.from(png.subarray(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    const view = new DataView(png.buffer, png.byteOffset);
    expect(view.getUint32(16)).toBe(300); // IHDR width
    expect(view.getUint32(20)).toBe(200);
  });
});
