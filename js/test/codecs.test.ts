import { describe, expect, it } from "vitest";
import { decode, decodeFloat, decodeInt, halfToFloat } from "../src/codecs";
import { payload } from "./helpers";

describe("halfToFloat", () => {
  it("reads normal, subnormal and special half-precision values", () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x3555)).toBeCloseTo(1 / 3, 3);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x0000)).toBe(0);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
  });
});

describe("decode", () => {
  it("round-trips every dtype with its shape", () => {
    const values = [0, 1.5, -2.25, 7, 3, 0.5];
    for (const dtype of ["float16", "float32", "int32", "uint8"] as const) {
      const input = dtype === "uint8" || dtype === "int32" ? values.map((v) => Math.abs(Math.trunc(v))) : values;
      const out = decode(payload(dtype, [2, 3], input));
      expect(out.shape).toEqual([2, 3]);
      expect(Array.from(out.data)).toEqual(input);
    }
  });

  it("reads a view that starts inside a larger buffer (as ipywidgets may send)", () => {
    const buffer = new ArrayBuffer(12);
    new DataView(buffer).setInt32(4, -1, true);
    new DataView(buffer).setInt32(8, 42, true);
    const out = decodeInt({ dtype: "int32", shape: [2], data: new DataView(buffer, 4, 8) });
    expect(Array.from(out.data)).toEqual([-1, 42]);
  });

  it("refuses a buffer of the wrong size and the wrong kind", () => {
    expect(() => decode(payload("float32", [3], [1, 2]))).toThrow(/needs 12 bytes, got 8/);
    expect(() => decodeFloat(payload("int32", [1], [1]))).toThrow(/expected floats/);
  });
});
