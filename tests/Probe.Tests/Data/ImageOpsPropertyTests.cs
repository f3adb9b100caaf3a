using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Probe.Data;

namespace Probe.Tests.Data;

/// <summary>Invariants of the resize and crop arithmetic (exact values are checked against Pillow in StreamedFormatsTests).</summary>
public class ImageOpsPropertyTests
{
    // The triangle filter's weights sum to 1, so a constant image stays that constant, in bytes (Pillow's rounding
    // cannot move it) and in floats (to float rounding).
    [Property(MaxTest = 200)]
    public bool Resize_KeepsConstantImages(PositiveInt h0, PositiveInt w0, PositiveInt size0, byte value)
    {
        int h = h0.Get % 40 + 1, w = w0.Get % 40 + 1, size = size0.Get % 40 + 1;
        var (oh, ow) = ImageOps.ResizedShape(h, w, size);
        var src = Enumerable.Repeat(value, 2 * h * w).ToArray();
        var dst = new byte[2 * oh * ow];
        ImageOps.ResizeBytes(src, 2, h, w, dst, oh, ow);
        var fsrc = Enumerable.Repeat(value / 7f, 2 * h * w).ToArray();
        var fdst = new float[2 * oh * ow];
        ImageOps.ResizeFloats(fsrc, 2, h, w, fdst, oh, ow);
        return dst.All(b => b == value) && fdst.All(f => Math.Abs(f - value / 7f) <= 1e-5f);
    }

    // torchvision's Resize(int): the shorter side becomes size, the aspect ratio is kept to within one pixel.
    [Property(MaxTest = 300)]
    public bool ResizedShape_ShorterSideIsSize(PositiveInt h0, PositiveInt w0, PositiveInt size0)
    {
        int h = h0.Get % 2000 + 1, w = w0.Get % 2000 + 1, size = size0.Get % 500 + 1;
        var (oh, ow) = ImageOps.ResizedShape(h, w, size);
        int shortOut = Math.Min(oh, ow), longOut = Math.Max(oh, ow);
        double exact = (double)size * Math.Max(h, w) / Math.Min(h, w);
        return shortOut == size && longOut <= exact && longOut > exact - 1 && (w <= h ? ow == size : oh == size);
    }

    // The crop window lies inside the image when it fits, and the padding splits as (crop - n) // 2 before.
    [Property(MaxTest = 300)]
    public bool CropOffset_IsCentred(PositiveInt n0, PositiveInt crop0)
    {
        int n = n0.Get % 500 + 1, crop = crop0.Get % 500 + 1;
        int off = ImageOps.CropOffset(n, crop);
        if (crop <= n) return off >= 0 && off + crop <= n && Math.Abs((n - crop - off) - off) <= 1;
        return off == -((crop - n) / 2);
    }
}
