using System.Diagnostics;
using Probe.Similarity;
using static TorchSharp.torch;

namespace Probe.Bench;

/// <summary>
/// Linear CKA of two large matrices against this machine's SGEMM rate measured in the same run: the time the
/// symmetric (syrk-like) flop count 2n(da^2/2 + da db + db^2/2) would take at torch.mm's rate of a square product
/// (what NumPy + OpenBLAS does: syrk for X'X and Y'Y, gemm for X'Y), and the resident memory CKA adds on top of its
/// inputs, as a multiple of the inputs' size (NumPy centring in place adds about 0.1x).
/// "cka-huge" runs 70,000 x 4,096 against 70,000 x 4,096 (2.3 GB of inputs; a single copy of both would pass 2 GiB).
/// </summary>
public sealed class CkaScaleBenchmarks : IBenchmark
{
    public string Name => "cka-scale";
    public string Description => "linear CKA 20k x 1024 vs 20k x 768 and 70k x 2048 vs 70k x 2048: time vs SGEMM, memory vs inputs";

    public void Run(BenchContext ctx)
    {
        var shapes = ctx.Quick ? new[] { (4000, 512, 384) } : new[] { (20000, 1024, 768), (70000, 2048, 2048) };
        CkaScale.Measure(ctx, shapes);
    }
}

/// <summary>The 70,000 x 4,096 pair of the issue (about 3 GB of memory in all).</summary>
public sealed class CkaHugeBenchmarks : IBenchmark
{
    public string Name => "cka-huge";
    public string Description => "linear CKA 70k x 4096 vs 70k x 4096 (inputs 2.3 GB): time vs SGEMM, memory vs inputs";

    public void Run(BenchContext ctx) => CkaScale.Measure(ctx, ctx.Quick ? [(8000, 4096, 4096)] : [(70000, 4096, 4096)]);
}

internal static class CkaScale
{
    public static void Measure(BenchContext ctx, (int N, int Da, int Db)[] shapes)
    {
        double sgemm = SgemmRate(2048);
        ctx.Report("SGEMM torch.mm 2048^3 float32", sgemm / 1e9, "GFLOP/s");
        foreach (var (n, da, db) in shapes)
        {
            var x = Random(n, da, 1, 0.5f);
            var y = Random(n, db, 2, 0f);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < Math.Min(da, db); j++) y.Data[(long)i * db + j] += 0.7f * x.Data[(long)i * da + j];
            GC.Collect();
            double before = BenchContext.ResidentMiB();
            double inputs = 4.0 * n * (da + db) / (1 << 20);
            var sw = Stopwatch.StartNew();
            double v = new Cka().Compute(x, y);
            double s = sw.Elapsed.TotalSeconds;
            double peak = BenchContext.PeakResidentMiB();
            double flops = 2.0 * n * (0.5 * da * da + (double)da * db + 0.5 * db * db);
            string tag = $"{n / 1000}k x {da} vs {db}";
            ctx.Report($"CKA {tag} wall", s, "s");
            ctx.Report($"CKA {tag} / syrk flops at SGEMM rate", s / (flops / sgemm), "ratio");
            ctx.Report($"CKA {tag} resident added / inputs", Math.Max(0, peak - before) / inputs, "ratio");
            ctx.Report($"CKA {tag} value (sanity)", v);
        }
    }

    static double SgemmRate(int size)
    {
        using var a = randn(size, size);
        using var b = randn(size, size);
        double s = BenchContext.BestSeconds(() => { using var c = mm(a, b); }, repeats: 3);
        return 2.0 * size * size * size / s;
    }

    static Matrix Random(int n, int d, int seed, float shift)
    {
        var m = new Matrix(n, d);
        Parallel.For(0, n, i =>
        {
            var rng = new Random(seed * 1_000_003 + i);
            for (int j = 0; j < d; j++) m.Data[(long)i * d + j] = (float)(rng.NextDouble() * 2 - 1) + shift;
        });
        return m;
    }
}
