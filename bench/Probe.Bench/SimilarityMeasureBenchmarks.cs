using Probe.Similarity;
using static TorchSharp.torch;

namespace Probe.Bench;

/// <summary>
/// Every similarity measure of <see cref="SimilarityMeasure.Names"/> on one pair of matrices (5,000 x 512 vs
/// 5,000 x 256; --quick: 1,000 x 128 vs 1,000 x 64), each as a ratio to the matrix product X'Y of the same shapes
/// (float32 and float64 torch.mm) measured in the same run.
/// </summary>
public sealed class SimilarityMeasureBenchmarks : IBenchmark
{
    public string Name => "similarity-measures";
    public string Description => "CKA, mean CCA, SVCCA, PWCCA, Procrustes, mutual k-NN, RSA, linreg on 5000x512 vs 5000x256, vs one X'Y product";

    public void Run(BenchContext ctx)
    {
        int n = ctx.Quick ? 1000 : 5000, p = ctx.Quick ? 128 : 512, q = ctx.Quick ? 64 : 256;
        var (x, y) = Pair(n, p, q);
        double sgemm, dgemm;
        using (var a = randn(n, p))
        using (var b = randn(n, q))
        using (var ad = a.to_type(ScalarType.Float64))
        using (var bd = b.to_type(ScalarType.Float64))
        {
            sgemm = BenchContext.BestSeconds(() => { using var c = mm(a.t(), b); }, repeats: 5);
            dgemm = BenchContext.BestSeconds(() => { using var c = mm(ad.t(), bd); }, repeats: 5);
        }
        ctx.Report($"baseline X'Y float32 ({n}x{p} by {n}x{q})", sgemm, "s");
        ctx.Report($"baseline X'Y float64", dgemm, "s");
        foreach (var name in SimilarityMeasure.Names)
        {
            var m = SimilarityMeasure.Parse(name);
            double value = 0;
            double s = BenchContext.BestSeconds(() => value = m.Compute(x, y).Value, repeats: ctx.Quick ? 1 : 2);
            ctx.Report($"{name} wall", s, "s");
            ctx.Report($"{name} / X'Y float32", s / sgemm, "ratio");
            ctx.Report($"{name} / X'Y float64", s / dgemm, "ratio");
            ctx.Report($"{name} value (sanity)", value);
        }
        ctx.Report("peak resident", BenchContext.PeakResidentMiB(), "MiB");
    }

    /// <summary>A ReLU layer and a wider one computed from it plus noise: related, as consecutive layers are.</summary>
    private static (Matrix X, Matrix Y) Pair(int n, int p, int q)
    {
        var rng = new Random(1);
        float G() => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        var latent = Matrix.Create(n, 32, (_, _) => G());
        var wx = Matrix.Create(32, p, (_, _) => G());
        var wy = Matrix.Create(p, q, (_, _) => G() / MathF.Sqrt(p));
        var x = Matrix.Create(n, p, (_, _) => 0f);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < p; j++)
            {
                float s = 0.5f * G();
                for (int k = 0; k < 32; k++) s += latent[i, k] * wx[k, j];
                x[i, j] = MathF.Max(0, s);
            }
        var y = Matrix.Create(n, q, (_, _) => 0f);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < q; j++)
            {
                float s = 0.3f * G();
                for (int k = 0; k < p; k++) s += x[i, k] * wy[k, j];
                y[i, j] = MathF.Max(0, s);
            }
        return (x, y);
    }
}
