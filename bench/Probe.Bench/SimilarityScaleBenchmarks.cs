using Probe.Similarity;
using static TorchSharp.torch;

namespace Probe.Bench;

/// <summary>
/// The CCA family and Procrustes at layer scale: SVCCA, PWCCA and Procrustes on 10,000 x 1,024 vs 10,000 x 1,024
/// (--quick: 2,000 x 256), and mutual k-NN (k = 10) on 10,000 rows, each as a ratio to the float64 products the
/// measure cannot avoid (Xc'Yc, and for mutual k-NN the n x n similarities it forms block by block), measured in the
/// same run. Mutual k-NN's peak resident memory is reported against the n x n float64 matrix it never holds. The
/// whole-process comparison with NumPy + OpenBLAS is bench/peers/similarity.py (see its docstring).
/// </summary>
public sealed class SimilarityScaleBenchmarks : IBenchmark
{
    public string Name => "similarity-scale";
    public string Description => "SVCCA, PWCCA, Procrustes on 10000x1024 pairs and mutual 10-NN on 10000 rows, vs the float64 products they need";

    public void Run(BenchContext ctx)
    {
        int n = ctx.Size(ctx.Quick ? 2000 : 10000, 200), p = ctx.Size(ctx.Quick ? 256 : 1024, 32);
        var (x, y) = Pair(n, p);
        double gemm;
        using (var a = randn(n, p, dtype: ScalarType.Float64))
        using (var b = randn(n, p, dtype: ScalarType.Float64))
            gemm = BenchContext.BestSeconds(() => { using var c = mm(a.t(), b); }, repeats: ctx.Smoke ? 1 : 3);
        ctx.Report($"baseline Xc'Yc float64 ({n}x{p} by {n}x{p})", gemm, "s");
        foreach (var m in new SimilarityMeasure[] { new SvccaMeasure(), new PwccaMeasure(), new ProcrustesMeasure() })
        {
            double value = 0;
            double s = BenchContext.BestSeconds(() => value = m.Compute(x, y).Value, repeats: ctx.Smoke ? 1 : 2, warmUp: !ctx.Smoke);
            ctx.Report($"{m.Name} wall", s, "s");
            ctx.Report($"{m.Name} / Xc'Yc float64", s / gemm, "ratio");
            ctx.Report($"{m.Name} value (sanity)", value);
        }
        // Mutual k-NN: the n x n inner products are the floor (formed in blocks, never whole).
        double sims;
        using (var z = randn(n, p, dtype: ScalarType.Float64))
            sims = BenchContext.BestSeconds(() => { using var c = mm(z, z.t()); }, repeats: 1, warmUp: false);
        double rssBefore = BenchContext.ResidentMiB();
        var knn = new MutualKnnMeasure();
        double knnValue = 0;
        double knnWall = BenchContext.BestSeconds(() => knnValue = knn.Compute(x, y).Value, repeats: 1, warmUp: false);
        ctx.Report($"baseline Z Z' float64 ({n}x{n}, whole)", sims, "s");
        ctx.Report("mutual-knn wall", knnWall, "s");
        ctx.Report("mutual-knn / (2 x Z Z')", knnWall / (2 * sims), "ratio");
        ctx.Report("mutual-knn value (sanity)", knnValue);
        ctx.Report("n x n float64 matrix (never held)", 8.0 * n * n / (1 << 20), "MiB");
        ctx.Report("resident before mutual-knn", rssBefore, "MiB");
        ctx.Report("peak resident (whole run)", BenchContext.PeakResidentMiB(), "MiB");
    }

    /// <summary>Two ReLU layers driven by one 64-dimensional latent (related, as layers of one network are).</summary>
    private static (Matrix X, Matrix Y) Pair(int n, int p)
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        var latent = randn(n, 64);
        var x = (mm(latent, randn(64, p)) + 0.5f * randn(n, p)).clamp_min(0).contiguous();
        var y = (mm(latent, randn(64, p)) + 0.5f * randn(n, p)).clamp_min(0).contiguous();
        return (new Matrix(n, p, x.data<float>().ToArray()), new Matrix(n, p, y.data<float>().ToArray()));
    }
}
