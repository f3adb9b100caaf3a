using System.Diagnostics;
using Probe.Similarity;
using static TorchSharp.torch;

namespace Probe.Bench;

/// <summary>
/// CKA throughput against this machine's own SGEMM rate measured in the same run: all-pairs linear CKA of 8 layers
/// (widths 64..1024) on 10,000 samples, and streaming minibatch CKA over 60,000 samples, whose peak memory must not
/// grow with the number of samples (measured at two sample counts, the smaller first).
/// </summary>
public sealed class SimilarityBenchmarks : IBenchmark
{
    public string Name => "similarity";
    public string Description => "CKA: all-pairs (8 layers, 10k samples) and minibatch (60k samples) vs SGEMM";

    private static readonly int[] Widths = [64, 96, 128, 192, 256, 384, 512, 1024];

    public void Run(BenchContext ctx)
    {
        int sgemm = ctx.Quick ? 1024 : 2048;
        double sgemmRate = SgemmRate(sgemm);
        ctx.Report($"SGEMM torch.mm {sgemm}^3 float32", sgemmRate / 1e9, "GFLOP/s");
        string[] names = Widths.Select((w, i) => $"l{i}_{w}").ToArray();
        // The batch Gram products alone (float32 torch.mm of 512 x d by d x 512 for the 8 widths): the ceiling
        // minibatch CKA can reach with these shapes.
        double gramOnly = GramOnlyRate(512);
        ctx.Report("batch Gram products alone (b=512, 8 widths)", gramOnly / 1e9, "GFLOP/s");
        ctx.Report("batch Gram products alone / SGEMM", gramOnly / sgemmRate, "ratio");

        // Minibatch first, so the all-pairs run's larger matrices do not mask its high-water mark.
        int batch = 512;
        int[] counts = ctx.Quick ? [4096, 12288] : [20000, 60000];
        var pool = Widths.Select((w, i) => RandomMatrix(4096, w, 10 + i)).ToArray();
        foreach (int count in counts)
        {
            var (seconds, gemmFlops) = Minibatch(names, pool, count, batch);
            ctx.Report($"minibatch CKA n={count} (batch {batch}) wall", seconds, "s");
            ctx.Report($"minibatch CKA n={count} Gram products", gemmFlops / seconds / 1e9, "GFLOP/s");
            ctx.Report($"minibatch CKA n={count} Gram products / SGEMM", gemmFlops / seconds / sgemmRate, "ratio");
            ctx.Report($"minibatch CKA n={count} peak resident", BenchContext.PeakResidentMiB(), "MiB");
        }

        int n = ctx.Quick ? 2000 : 10000;
        var layers = Widths.Select((w, i) => RandomMatrix(n, w, 100 + i)).ToArray();
        double pairFlops = 0;
        for (int i = 0; i < Widths.Length; i++)
            for (int j = i; j < Widths.Length; j++) pairFlops += 2.0 * n * Widths[i] * Widths[j];
        CkaMatrix? table = null;
        double auto = BenchContext.BestSeconds(() => table = new Cka().AllPairs(names, layers), repeats: ctx.Quick ? 1 : 3);
        ctx.Report($"all-pairs linear CKA n={n}, 8 layers, wall (auto: float32 products)", auto, "s");
        ctx.Report("all-pairs cross-products", pairFlops / auto / 1e9, "GFLOP/s");
        ctx.Report("all-pairs cross-products / SGEMM", pairFlops / auto / sgemmRate, "ratio");
        double dbl = BenchContext.BestSeconds(() => new Cka(Precision: CkaPrecision.Double).AllPairs(names, layers), repeats: 1);
        ctx.Report("all-pairs linear CKA, float64 products, wall", dbl, "s");
        var naive = Stopwatch.StartNew();
        for (int i = 0; i < Widths.Length; i++)
            for (int j = i + 1; j < Widths.Length; j++) new Cka().Compute(layers[i], layers[j]);
        ctx.Report("pair-by-pair Cka.Compute (28 pairs) wall", naive.Elapsed.TotalSeconds, "s");
        ctx.Report("all-pairs CKA[l0, l7] (random data, sanity)", table!.Values[0][7]);
        ctx.Report("peak resident after all-pairs", BenchContext.PeakResidentMiB(), "MiB");
    }

    private static double SgemmRate(int size)
    {
        using var a = randn(size, size);
        using var b = randn(size, size);
        double s = BenchContext.BestSeconds(() => { using var c = mm(a, b); }, repeats: 3);
        return 2.0 * size * size * size / s;
    }

    private static double GramOnlyRate(int b)
    {
        var xs = Widths.Select(w => randn(b, w)).ToArray();
        double flops = Widths.Sum(w => 2.0 * b * b * w);
        double s = BenchContext.BestSeconds(() => { foreach (var x in xs) { using var k = mm(x, x.t()); } }, repeats: 5);
        foreach (var x in xs) x.Dispose();
        return flops / s;
    }

    private static (double Seconds, double GemmFlops) Minibatch(string[] names, Matrix[] pool, int count, int batch)
    {
        var buffers = pool.Select(p => new Matrix(batch, p.Cols)).ToArray();
        var sw = Stopwatch.StartNew();
        double flops = 0;
        using var acc = new MinibatchCka(names);
        var rng = new Random(count);
        for (int start = 0; start < count; start += batch)
        {
            int rows = Math.Min(batch, count - start);
            var acts = new Dictionary<string, Matrix>();
            for (int l = 0; l < pool.Length; l++)
            {
                // Batch rows: a random window of the pool, so data differ per batch without a data set in memory.
                int from = rng.Next(pool[l].Rows - rows);
                var m = rows == batch ? buffers[l] : new Matrix(rows, pool[l].Cols);
                Array.Copy(pool[l].Data, (long)from * pool[l].Cols, m.Data, 0, (long)rows * pool[l].Cols);
                acts[names[l]] = m;
                flops += 2.0 * rows * rows * pool[l].Cols;
            }
            acc.Add(acts);
        }
        var result = acc.Result();
        if (result.Values.Any(r => r.Any(v => !double.IsFinite(v)))) throw new InvalidOperationException("non-finite CKA");
        return (sw.Elapsed.TotalSeconds, flops);
    }

    private static Matrix RandomMatrix(int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        var m = new Matrix(rows, cols);
        // A shared low-rank signal plus noise, ReLU'd: layers are related, as in a network.
        var basis = new float[8];
        for (int i = 0; i < rows; i++)
        {
            var shared = new Random(i);
            for (int k = 0; k < 8; k++) basis[k] = (float)(shared.NextDouble() - 0.5);
            for (int j = 0; j < cols; j++)
                m.Data[i * cols + j] = MathF.Max(0, basis[j % 8] + 0.5f * (float)(rng.NextDouble() - 0.5));
        }
        return m;
    }
}
