namespace Probe.Data;

/// <summary>
/// Applies a <see cref="DataTransform"/> to one sample at a time: gray, resize, centre crop (see <see cref="ImageOps"/>),
/// then scale and normalisation. 8-bit sources go through the 8-bit path (exactly Pillow's arithmetic, rounding
/// between steps as a PIL image does); other sources through the float path.
/// </summary>
/// <remarks>
/// Shapes: a sample of rank 3 is [C, H, W]; rank 2 is one channel [H, W] (kept rank 2); rank 1 is a vector whose every
/// feature is its own "channel" for mean/std. Gray, size and crop need rank 2 or 3. Thread-safe: scratch buffers
/// are per thread.
/// </remarks>
internal sealed class SamplePipeline
{
    readonly DataTransform _t;
    readonly bool _bytes;
    readonly string _what;
    readonly int? _size, _crop;
    readonly float _scaleMul;
    readonly float? _scaleDiv;
    readonly IReadOnlyList<double>? _mean, _std;

    [ThreadStatic] static byte[]? t_b1, t_b2;
    [ThreadStatic] static float[]? t_f1, t_f2;

    public SamplePipeline(DataTransform transform, bool byteSource, string what)
    {
        _t = transform;
        _bytes = byteSource;
        _what = what;
        _size = transform.EffectiveSize;
        _crop = transform.EffectiveCrop;
        _mean = transform.EffectiveMean;
        _std = transform.EffectiveStd;
        double num = transform.ScaleNumerator ?? 1, den = transform.ScaleNumerator == null ? (byteSource ? 255 : 1) : transform.ScaleDenominator;
        if (num == 1 && den != 1) { _scaleDiv = (float)den; _scaleMul = 1; }
        else { _scaleDiv = null; _scaleMul = (float)(num / den); }
    }

    bool Spatial => _t.Gray || _size != null || _crop != null;

    /// <summary>True when samples pass through unchanged (float sources, no transform).</summary>
    public bool IsIdentity => !_bytes && !Spatial && _scaleDiv == null && _scaleMul == 1f && _mean == null && _std == null;

    /// <summary>The shape of a transformed sample whose raw shape is <paramref name="raw"/>; checks that the transform applies.</summary>
    public int[] OutputShape(int[] raw)
    {
        if (Spatial && raw.Length is not (2 or 3))
            throw new ProbeException($"Data set '{_what}' has samples of shape [{string.Join(", ", raw)}]; gray, size= and crop= need image-shaped samples [C, H, W] or [H, W]. For channels-last arrays add layout=nhwc.");
        int[] shape;
        int channels;
        if (raw.Length == 3)
        {
            int c = raw[0];
            if (_t.Gray && c is not (1 or 3))
                throw new ProbeException($"Data set '{_what}': gray needs 1 or 3 channels but samples have {c} (shape [{string.Join(", ", raw)}]). For channels-last arrays add layout=nhwc.");
            if (_t.Gray) c = 1;
            var (h, w) = SpatialOut(raw[1], raw[2]);
            shape = Spatial ? [c, h, w] : (int[])raw.Clone();
            channels = c;
        }
        else if (raw.Length == 2)
        {
            var (h, w) = SpatialOut(raw[0], raw[1]);
            shape = [h, w];
            channels = 1;
        }
        else
        {
            shape = (int[])raw.Clone();
            channels = raw.Length == 0 ? 1 : raw[0];
        }
        CheckChannels("mean", _mean, channels, shape);
        CheckChannels("std", _std, channels, shape);
        return shape;
    }

    (int H, int W) SpatialOut(int h, int w)
    {
        if (_size is int s) (h, w) = ImageOps.ResizedShape(h, w, s);
        if (_crop is int c) (h, w) = (c, c);
        return (h, w);
    }

    void CheckChannels(string name, IReadOnlyList<double>? values, int channels, int[] shape)
    {
        if (values == null || values.Count == 1 || values.Count == channels) return;
        throw new ProbeException($"Data set '{_what}': {name}= has {values.Count} values but samples (shape [{string.Join(", ", shape)}]) have {channels} channel{(channels == 1 ? "" : "s")}; give one value or {channels}.");
    }

    static T[] Scratch<T>(ref T[]? buffer, int n)
    {
        if (buffer == null || buffer.Length < n) buffer = new T[Math.Max(n, 1024)];
        return buffer;
    }

    /// <summary>Transforms one 8-bit sample of <paramref name="raw"/> shape (planar) into <paramref name="dst"/>.</summary>
    public void RunBytes(ReadOnlySpan<byte> src, int[] raw, Span<float> dst)
    {
        if (!Spatial)
        {
            var (channels, per) = Channels(raw, src.Length);
            for (int ch = 0; ch < channels; ch++)
            {
                var i0 = src.Slice(ch * per, per);
                var o = dst.Slice(ch * per, per);
                for (int i = 0; i < per; i++) o[i] = Finish(i0[i], ch);
            }
            return;
        }
        var (c, h, w) = Geometry(raw);
        ReadOnlySpan<byte> cur = src;
        if (_t.Gray && c == 3)
        {
            var b = Scratch(ref t_b1, h * w);
            ImageOps.GrayBytes(cur, h * w, b);
            cur = b.AsSpan(0, h * w);
            c = 1;
        }
        if (_size is int s)
        {
            var (oh, ow) = ImageOps.ResizedShape(h, w, s);
            if (oh != h || ow != w)
            {
                var b = Scratch(ref t_b2, c * oh * ow);
                ImageOps.ResizeBytes(cur, c, h, w, b, oh, ow);
                cur = b.AsSpan(0, c * oh * ow);
                (h, w) = (oh, ow);
            }
        }
        Span<float> lut = stackalloc float[256];
        int outH = _crop ?? h, outW = _crop ?? w;
        int offY = _crop is int cr ? ImageOps.CropOffset(h, cr) : 0, offX = _crop is int cr2 ? ImageOps.CropOffset(w, cr2) : 0;
        int plane = outH * outW;
        for (int ch = 0; ch < c; ch++)
        {
            for (int v = 0; v < 256; v++) lut[v] = Finish(v, ch);
            var inPlane = cur.Slice(ch * h * w, h * w);
            var o = dst.Slice(ch * plane, plane);
            if (offY == 0 && offX == 0 && outH == h && outW == w)
            {
                for (int i = 0; i < plane; i++) o[i] = lut[inPlane[i]];
                continue;
            }
            for (int y = 0; y < outH; y++)
            {
                int sy = y + offY;
                for (int x = 0; x < outW; x++)
                {
                    int sx = x + offX;
                    o[y * outW + x] = (uint)sy < (uint)h && (uint)sx < (uint)w ? lut[inPlane[sy * w + sx]] : lut[0];
                }
            }
        }
    }

    /// <summary>Transforms one float sample of <paramref name="raw"/> shape into <paramref name="dst"/>.</summary>
    public void RunFloats(ReadOnlySpan<float> src, int[] raw, Span<float> dst)
    {
        if (!Spatial)
        {
            var (channels, per) = Channels(raw, src.Length);
            for (int ch = 0; ch < channels; ch++)
            {
                var i0 = src.Slice(ch * per, per);
                var o = dst.Slice(ch * per, per);
                for (int i = 0; i < per; i++) o[i] = Finish(i0[i], ch);
            }
            return;
        }
        var (c, h, w) = Geometry(raw);
        ReadOnlySpan<float> cur = src;
        if (_t.Gray && c == 3)
        {
            var b = Scratch(ref t_f1, h * w);
            ImageOps.GrayFloats(cur, h * w, b);
            cur = b.AsSpan(0, h * w);
            c = 1;
        }
        if (_size is int s)
        {
            var (oh, ow) = ImageOps.ResizedShape(h, w, s);
            if (oh != h || ow != w)
            {
                var b = Scratch(ref t_f2, c * oh * ow);
                ImageOps.ResizeFloats(cur, c, h, w, b, oh, ow);
                cur = b.AsSpan(0, c * oh * ow);
                (h, w) = (oh, ow);
            }
        }
        int outH = _crop ?? h, outW = _crop ?? w;
        int offY = _crop is int cr ? ImageOps.CropOffset(h, cr) : 0, offX = _crop is int cr2 ? ImageOps.CropOffset(w, cr2) : 0;
        int plane = outH * outW;
        for (int ch = 0; ch < c; ch++)
        {
            var inPlane = cur.Slice(ch * h * w, h * w);
            var o = dst.Slice(ch * plane, plane);
            for (int y = 0; y < outH; y++)
            {
                int sy = y + offY;
                for (int x = 0; x < outW; x++)
                {
                    int sx = x + offX;
                    o[y * outW + x] = Finish((uint)sy < (uint)h && (uint)sx < (uint)w ? inPlane[sy * w + sx] : 0f, ch);
                }
            }
        }
    }

    /// <summary>The channels of a sample for mean/std and the values per channel: rank 1 = one per feature, rank 2 = one, else axis 0.</summary>
    static (int Channels, int Per) Channels(int[] raw, int length) => raw.Length switch
    {
        1 => (raw[0], 1),
        0 or 2 => (1, length),
        _ => (raw[0], raw[0] == 0 ? 0 : length / raw[0]),
    };

    static (int C, int H, int W) Geometry(int[] raw) => raw.Length == 3 ? (raw[0], raw[1], raw[2]) : (1, raw[0], raw[1]);

    /// <summary>Scale, then (x - mean[c]) / std[c] in float32 as torchvision's Normalize.</summary>
    float Finish(float v, int channel)
    {
        float x = _scaleDiv is float d ? v / d : v * _scaleMul;
        if (_mean != null) x -= (float)_mean[_mean.Count == 1 ? 0 : channel];
        if (_std != null) x /= (float)_std[_std.Count == 1 ? 0 : channel];
        return x;
    }
}
