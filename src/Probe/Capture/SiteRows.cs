namespace Probe.Capture;

/// <summary>
/// How one site's per-sample tensor becomes a row, by rank of the batched output and the site's op type:
/// <list type="bullet">
/// <item>[N] → one column; [N, D] → D columns, whatever the reduction;</item>
/// <item>[N, T, D] (a token sequence) → D units: <see cref="MapReduction.Mean"/> / <see cref="MapReduction.Max"/> over
/// the T tokens, <see cref="MapReduction.First"/> / <see cref="MapReduction.Last"/> token, or
/// <see cref="MapReduction.Flatten"/> (T·D columns, token-major);</item>
/// <item>[N, C, ...] feature maps (NCHW, and 3-D outputs of channels-first ops: Conv, pooling, BatchNormalization) → C
/// units, mean or max over the positions, or every value with Flatten. First/Last are defined for sequences only and
/// are refused on maps.</item>
/// </list>
/// A 3-D output is a sequence [N, T, D] or a map [N, C, L] as <see cref="SiteLayout.TokensLast(string, int[])"/> decides from the op
/// type, the rule TorchSharp modules and precomputed folders follow: a Conv (Conv1d) output is C channels of L positions.
/// </summary>
internal static class SiteRows
{
    /// <summary>The number of columns a sample of per-sample shape <paramref name="shape"/> gives.</summary>
    public static int Columns(ReadOnlySpan<long> shape, string opType, MapReduction reduce, string site)
    {
        long size = 1;
        foreach (var d in shape) size *= d;
        return shape.Length switch
        {
            0 or 1 => (int)size,
            2 when Tokens(shape, opType) => reduce == MapReduction.Flatten ? (int)size : (int)shape[1],
            _ => reduce switch
            {
                MapReduction.Flatten => checked((int)size),
                MapReduction.Mean or MapReduction.Max => (int)shape[0],
                _ => throw new ProbeException($"Reduction '{reduce.ToString().ToLowerInvariant()}' picks a token of a sequence output [N, T, D]; site '{site}' has a feature map of per-sample shape [{string.Join(", ", shape.ToArray())}]. Use mean, max or flatten for it, or select only sequence sites."),
            },
        };
    }

    /// <summary>Whether a per-sample shape [T, D] of an <paramref name="opType"/> output is tokens × features (else channels × positions).</summary>
    static bool Tokens(ReadOnlySpan<long> shape, string opType) => shape.Length == 2 && SiteLayout.TokensLast(opType);

    /// <summary>
    /// Reduces one sample (<paramref name="x"/>, per-sample shape <paramref name="shape"/> of an <paramref name="opType"/>
    /// output) into <paramref name="row"/>.
    /// </summary>
    public static void Reduce(ReadOnlySpan<float> x, ReadOnlySpan<long> shape, string opType, MapReduction reduce, Span<float> row)
    {
        if (shape.Length <= 1 || reduce == MapReduction.Flatten) { x.CopyTo(row); return; }
        if (shape.Length == 2 && Tokens(shape, opType))
        {
            int t = (int)shape[0];
            TokenMask.Pool(x, [], 0, t - 1, t, reduce, row[..(int)shape[1]]);
            return;
        }
        // Feature maps [C, ...] (including [C, L]): channel c's positions are contiguous.
        int c = (int)shape[0];
        int positions = x.Length / Math.Max(c, 1);
        for (int ch = 0; ch < c; ch++)
        {
            var p = x.Slice(ch * positions, positions);
            if (reduce == MapReduction.Mean)
            {
                double s = 0;
                int i = 0;
                if (System.Numerics.Vector.IsHardwareAccelerated && p.Length >= 2 * System.Numerics.Vector<float>.Count)
                {
                    // Pairwise-in-lanes float sums are exact enough for ≤ 1e-6 relative error over a few thousand positions;
                    // each lane's partial sum is added in double.
                    var v = System.Numerics.Vector<float>.Zero;
                    int w = System.Numerics.Vector<float>.Count;
                    for (; i + w <= p.Length; i += w) v += new System.Numerics.Vector<float>(p.Slice(i, w));
                    for (int l = 0; l < w; l++) s += v[l];
                }
                for (; i < p.Length; i++) s += p[i];
                row[ch] = (float)(s / positions);
            }
            else
            {
                float m = float.NegativeInfinity;
                bool nan = false;
                foreach (var v in p) { if (v > m) m = v; else if (float.IsNaN(v)) nan = true; }
                row[ch] = nan ? float.NaN : m;
            }
        }
    }
}
