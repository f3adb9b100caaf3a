using FsCheck.Xunit;
using Probe.Capture;
using Probe.Onnx;

namespace Probe.Tests.Onnx;

/// <summary>Invariants of the per-sample reductions, for any token count, width and values.</summary>
public class SiteRowsProperties
{
    static float[] Values(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)Math.Round(rng.NextDouble() * 8 - 4, 3)).ToArray();
    }

    static float[] Row(float[] x, long[] shape, MapReduction r, string op = "MatMul")
    {
        var row = new float[SiteRows.Columns(shape, op, r, "s")];
        SiteRows.Reduce(x, shape, op, r, row);
        return row;
    }

    [Property(MaxTest = 200)]
    public bool TokenReductionsBracketEachUnit(byte tokens, byte width, int seed)
    {
        int t = 1 + tokens % 7, d = 1 + width % 6;
        var x = Values(t * d, seed);
        long[] shape = [t, d];
        var mean = Row(x, shape, MapReduction.Mean);
        var max = Row(x, shape, MapReduction.Max);
        var first = Row(x, shape, MapReduction.First);
        var last = Row(x, shape, MapReduction.Last);
        var flat = Row(x, shape, MapReduction.Flatten);
        for (int j = 0; j < d; j++)
        {
            var unit = Enumerable.Range(0, t).Select(i => x[i * d + j]).ToArray();
            if (Math.Abs(mean[j] - unit.Average()) > 1e-5 || max[j] != unit.Max() || first[j] != unit[0] || last[j] != unit[^1]) return false;
            if (mean[j] > max[j] + 1e-6) return false;
        }
        return flat.SequenceEqual(x);
    }

    [Property(MaxTest = 200)]
    public bool MapReductionsArePerChannel(byte channels, byte side, int seed)
    {
        int c = 1 + channels % 5, h = 1 + side % 9, w = 2 + side % 3;
        var x = Values(c * h * w, seed);
        long[] shape = [c, h, w];
        var mean = Row(x, shape, MapReduction.Mean);
        var max = Row(x, shape, MapReduction.Max);
        for (int ch = 0; ch < c; ch++)
        {
            var p = x.Skip(ch * h * w).Take(h * w).ToArray();
            if (Math.Abs(mean[ch] - p.Average()) > 1e-5 || max[ch] != p.Max()) return false;
        }
        return mean.Length == c && Row(x, shape, MapReduction.Flatten).SequenceEqual(x);
    }

    [Property(MaxTest = 200)]
    public bool ConvOutputsOfOneSpatialAxisArePerChannel(byte channels, byte length, int seed)
    {
        // A Conv (Conv1d) output [C, L] is C channels of L positions, not L tokens of C features.
        int c = 1 + channels % 5, l = 1 + length % 9;
        var x = Values(c * l, seed);
        long[] shape = [c, l];
        var mean = Row(x, shape, MapReduction.Mean, "Conv");
        var max = Row(x, shape, MapReduction.Max, "MaxPool");
        if (mean.Length != c || max.Length != c) return false;
        for (int ch = 0; ch < c; ch++)
        {
            var p = x.Skip(ch * l).Take(l).ToArray();
            if (Math.Abs(mean[ch] - p.Average()) > 1e-5 || max[ch] != p.Max()) return false;
        }
        return Row(x, shape, MapReduction.Flatten, "Conv").SequenceEqual(x);
    }
}
