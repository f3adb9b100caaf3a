using System.Collections.Concurrent;

namespace Probe.Data;

/// <summary>
/// The image operations of torchvision's usual input pipeline, as pure functions on planar (one channel after another,
/// each row-major) images: Pillow's bilinear resize, torchvision's centre crop and Pillow's RGB-to-gray conversion.
/// </summary>
/// <remarks>
/// <para><b>Resize.</b> torchvision's <c>Resize</c> on a PIL image calls Pillow's <c>Image.resize(..., BILINEAR)</c>:
/// a separable convolution with the triangle filter <c>max(0, 1 - |x|)</c> stretched by the scale factor when
/// shrinking (so every input pixel contributes: antialiasing), horizontal pass first, then vertical. For each output
/// pixel xx the taps are the inputs x in [round(c - s), round(c + s)) with c = (xx + 0.5)·in/out and
/// s = max(in/out, 1), weighted by the filter at (x - c + 0.5)/max(in/out, 1) and normalised to sum 1.
/// On 8-bit images (<see cref="ResizeBytes"/>) Pillow turns the weights into 22-bit fixed-point integers, rounds each
/// pass to 8 bits and clamps to 0..255; this implementation does the same integer arithmetic, so it gives Pillow's
/// bytes exactly (checked against Pillow 9.4 through torchvision 0.14 in the tests: max difference 0 on every fixture image,
/// odd sizes, downscaling, RGB and gray). On float images (<see cref="ResizeFloats"/>) the same weights are applied in double precision
/// without rounding, as Pillow does for mode "F" images; torchvision's tensor <c>resize(..., antialias=True)</c>
/// uses the same filter and agrees to 5.4e-7 (measured on the float fixture; tests allow 1e-5).</para>
/// <para><b>Centre crop.</b> torchvision's <c>CenterCrop</c>: offsets <c>round((h - crop) / 2)</c> and
/// <c>round((w - crop) / 2)</c> with Python's round (halves to even); a side shorter than the crop is first padded
/// with zeros, <c>(crop - n) // 2</c> before and the rest after.</para>
/// <para><b>Gray.</b> 8-bit: Pillow's <c>convert("L")</c>, L = (19595 R + 38470 G + 7471 B + 32768) >> 16 (ITU-R
/// 601-2 luma in 16-bit fixed point). Float: torchvision's <c>rgb_to_grayscale</c>, 0.2989 R + 0.587 G + 0.114 B.</para>
/// </remarks>
public static class ImageOps
{
    const int PrecisionBits = 32 - 8 - 2;

    /// <summary>
    /// The output (height, width) of torchvision's <c>Resize(size)</c> with one int: the shorter side becomes
    /// <paramref name="size"/> and the longer <c>int(size * long / short)</c> (truncated).
    /// </summary>
    public static (int Height, int Width) ResizedShape(int height, int width, int size)
    {
        if (size < 1) throw new ProbeException($"A resize needs a size of 1 or more, got {size}.");
        if (height < 1 || width < 1) throw new ProbeException($"Cannot resize an image of {width} x {height} pixels.");
        if (width <= height)
            return ((int)((double)size * height / width), size);
        return (size, (int)((double)size * width / height));
    }

    /// <summary>The filter taps for resampling one size to another.</summary>
    internal sealed class Taps
    {
        public required int KernelSize { get; init; }
        /// <summary>Per output sample: the first input sample and the number of taps.</summary>
        public required int[] Bounds { get; init; }
        /// <summary>Per output sample: <see cref="KernelSize"/> weights (unused ones 0), normalised to sum 1.</summary>
        public required double[] Weights { get; init; }
        /// <summary>The weights in Pillow's 22-bit fixed point.</summary>
        public required int[] FixedWeights { get; init; }
    }

    static readonly ConcurrentDictionary<(int, int), Taps> TapCache = new();

    internal static Taps BilinearTaps(int inSize, int outSize) => TapCache.GetOrAdd((inSize, outSize), static k => ComputeTaps(k.Item1, k.Item2));

    static Taps ComputeTaps(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = 1.0 * filterScale; // the triangle filter's support is 1
        int ksize = (int)Math.Ceiling(support) * 2 + 1;
        var bounds = new int[outSize * 2];
        var w = new double[outSize * ksize];
        var fixedW = new int[outSize * ksize];
        for (int xx = 0; xx < outSize; xx++)
        {
            double centre = (xx + 0.5) * scale;
            double inv = 1.0 / filterScale;
            int xmin = Math.Max(0, (int)(centre - support + 0.5));
            int xmax = Math.Min(inSize, (int)(centre + support + 0.5)) - xmin;
            double sum = 0;
            for (int x = 0; x < xmax; x++)
            {
                double t = Math.Abs((x + xmin - centre + 0.5) * inv);
                double v = t < 1.0 ? 1.0 - t : 0.0;
                w[xx * ksize + x] = v;
                sum += v;
            }
            for (int x = 0; x < xmax; x++)
            {
                if (sum != 0) w[xx * ksize + x] /= sum;
                double k = w[xx * ksize + x];
                fixedW[xx * ksize + x] = k < 0 ? (int)(-0.5 + k * (1 << PrecisionBits)) : (int)(0.5 + k * (1 << PrecisionBits));
            }
            bounds[2 * xx] = xmin;
            bounds[2 * xx + 1] = xmax;
        }
        return new Taps { KernelSize = ksize, Bounds = bounds, Weights = w, FixedWeights = fixedW };
    }

    static byte Clip8(int acc)
    {
        int v = acc >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    /// <summary>
    /// Resizes each of <paramref name="channels"/> planes of <paramref name="src"/> (h x w bytes each) to
    /// <paramref name="outH"/> x <paramref name="outW"/> exactly as Pillow's 8-bit bilinear resize does.
    /// </summary>
    public static void ResizeBytes(ReadOnlySpan<byte> src, int channels, int h, int w, Span<byte> dst, int outH, int outW)
    {
        CheckPlanes(src.Length, channels, h, w, dst.Length, outH, outW);
        bool horizontal = outW != w, vertical = outH != h;
        byte[]? tmp = horizontal && vertical ? new byte[h * outW] : null;
        for (int c = 0; c < channels; c++)
        {
            var plane = src.Slice(c * h * w, h * w);
            var outPlane = dst.Slice(c * outH * outW, outH * outW);
            if (!horizontal && !vertical) { plane.CopyTo(outPlane); continue; }
            ReadOnlySpan<byte> mid = plane;
            if (horizontal)
            {
                Span<byte> target = vertical ? tmp : outPlane;
                var taps = BilinearTaps(w, outW);
                int k = taps.KernelSize;
                for (int y = 0; y < h; y++)
                {
                    var row = plane.Slice(y * w, w);
                    for (int xx = 0; xx < outW; xx++)
                    {
                        int xmin = taps.Bounds[2 * xx], n = taps.Bounds[2 * xx + 1];
                        int acc = 1 << (PrecisionBits - 1);
                        for (int x = 0; x < n; x++) acc += row[xmin + x] * taps.FixedWeights[xx * k + x];
                        target[y * outW + xx] = Clip8(acc);
                    }
                }
                mid = target;
            }
            if (vertical)
            {
                var taps = BilinearTaps(h, outH);
                int k = taps.KernelSize;
                for (int yy = 0; yy < outH; yy++)
                {
                    int ymin = taps.Bounds[2 * yy], n = taps.Bounds[2 * yy + 1];
                    for (int x = 0; x < outW; x++)
                    {
                        int acc = 1 << (PrecisionBits - 1);
                        for (int y = 0; y < n; y++) acc += mid[(ymin + y) * outW + x] * taps.FixedWeights[yy * k + y];
                        outPlane[yy * outW + x] = Clip8(acc);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Resizes each of <paramref name="channels"/> float planes with the same bilinear (triangle, antialiased) filter in
    /// double precision, as Pillow resizes mode "F" images.
    /// </summary>
    public static void ResizeFloats(ReadOnlySpan<float> src, int channels, int h, int w, Span<float> dst, int outH, int outW)
    {
        CheckPlanes(src.Length, channels, h, w, dst.Length, outH, outW);
        bool horizontal = outW != w, vertical = outH != h;
        float[]? tmp = horizontal && vertical ? new float[h * outW] : null;
        for (int c = 0; c < channels; c++)
        {
            var plane = src.Slice(c * h * w, h * w);
            var outPlane = dst.Slice(c * outH * outW, outH * outW);
            if (!horizontal && !vertical) { plane.CopyTo(outPlane); continue; }
            ReadOnlySpan<float> mid = plane;
            if (horizontal)
            {
                Span<float> target = vertical ? tmp : outPlane;
                var taps = BilinearTaps(w, outW);
                int k = taps.KernelSize;
                for (int y = 0; y < h; y++)
                {
                    var row = plane.Slice(y * w, w);
                    for (int xx = 0; xx < outW; xx++)
                    {
                        int xmin = taps.Bounds[2 * xx], n = taps.Bounds[2 * xx + 1];
                        double acc = 0;
                        for (int x = 0; x < n; x++) acc += row[xmin + x] * taps.Weights[xx * k + x];
                        target[y * outW + xx] = (float)acc;
                    }
                }
                mid = target;
            }
            if (vertical)
            {
                var taps = BilinearTaps(h, outH);
                int k = taps.KernelSize;
                for (int yy = 0; yy < outH; yy++)
                {
                    int ymin = taps.Bounds[2 * yy], n = taps.Bounds[2 * yy + 1];
                    for (int x = 0; x < outW; x++)
                    {
                        double acc = 0;
                        for (int y = 0; y < n; y++) acc += mid[(ymin + y) * outW + x] * taps.Weights[yy * k + y];
                        outPlane[yy * outW + x] = (float)acc;
                    }
                }
            }
        }
    }

    static void CheckPlanes(int srcLen, int channels, int h, int w, int dstLen, int outH, int outW)
    {
        if (channels < 1 || h < 1 || w < 1 || outH < 1 || outW < 1)
            throw new ArgumentException($"Bad resize: {channels} channels, {h} x {w} to {outH} x {outW}.");
        if (srcLen < channels * h * w || dstLen < channels * outH * outW)
            throw new ArgumentException("Resize buffers are too small for the planes.");
    }

    /// <summary>
    /// The offset of torchvision's centre crop along a side of <paramref name="n"/> samples: round((n - crop) / 2)
    /// (halves to even, as Python's round) when the crop fits, else minus the zero padding before the image.
    /// Output index i reads input index i + offset (zero outside 0..n-1).
    /// </summary>
    public static int CropOffset(int n, int crop) =>
        crop > n ? -((crop - n) / 2) : (int)Math.Round((n - crop) / 2.0, MidpointRounding.ToEven);

    /// <summary>Pillow's 8-bit RGB to L: (19595 R + 38470 G + 7471 B + 32768) >> 16, over planar R, G, B.</summary>
    public static void GrayBytes(ReadOnlySpan<byte> rgbPlanes, int pixels, Span<byte> dst)
    {
        var r = rgbPlanes[..pixels];
        var g = rgbPlanes.Slice(pixels, pixels);
        var b = rgbPlanes.Slice(2 * pixels, pixels);
        for (int i = 0; i < pixels; i++) dst[i] = (byte)((r[i] * 19595 + g[i] * 38470 + b[i] * 7471 + 0x8000) >> 16);
    }

    /// <summary>torchvision's float <c>rgb_to_grayscale</c>: 0.2989 R + 0.587 G + 0.114 B, over planar R, G, B.</summary>
    public static void GrayFloats(ReadOnlySpan<float> rgbPlanes, int pixels, Span<float> dst)
    {
        var r = rgbPlanes[..pixels];
        var g = rgbPlanes.Slice(pixels, pixels);
        var b = rgbPlanes.Slice(2 * pixels, pixels);
        for (int i = 0; i < pixels; i++) dst[i] = 0.2989f * r[i] + 0.587f * g[i] + 0.114f * b[i];
    }
}
