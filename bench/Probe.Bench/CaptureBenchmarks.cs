using System.Diagnostics;
using System.Runtime.InteropServices;
using Probe.Capture;
using Probe.Data;
using Probe.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Bench;

/// <summary>
/// Issue 3: the forward pass over a data set with hooks on every layer (in-memory sink) against the same pass with no
/// hooks, as a ratio in one run, for the digits MLP and the CNN on 28x28 inputs; and the streaming sink's memory
/// with 10x more batches.
/// </summary>
public sealed class CaptureBenchmarks : IBenchmark
{
    public string Name => "capture";
    public string Description => "Hooked forward pass vs plain forward pass (ratio); streaming sink memory vs batch count.";

    public void Run(BenchContext ctx)
    {
        // First, while the process holds little memory: a capture into memory as a user's usually is, the process's first.
        if (Directory.Exists(Datasets.FashionMnistDirectory) && !ctx.Quick) FirstCapture(ctx);
        var digits = Datasets.Digits();
        Compare(ctx, "digits MLP", ModelSpec.Parse("mlp:64-128-64-32-10:relu"), Repeat(digits, ctx.Quick ? 2 : 10), 256);
        // The small case: a 7 ms pass that does about 1 ns of arithmetic per activation value it makes, where reading
        // those values for their statistics is a large share of the pass.
        DeadPass(ctx, "digits MLP", ModelSpec.Parse("mlp:64-128-64-32-10:relu"), Repeat(digits, ctx.Quick ? 2 : 10), 256);

        Dataset images;
        string source;
        if (Directory.Exists(Datasets.FashionMnistDirectory))
        {
            images = Datasets.FromIdxDirectory(Datasets.FashionMnistDirectory, train: false);
            source = "Fashion-MNIST t10k";
        }
        else
        {
            var rng = new Random(1);
            images = new Dataset("synthetic 28x28", Matrix.Create(10_000, 784, (_, _) => (float)rng.NextDouble()), null, new[] { 1, 28, 28 });
            source = "synthetic 28x28 (Fashion-MNIST not installed)";
        }
        if (ctx.Quick) images = images.Subset(Enumerable.Range(0, 2000).ToArray());
        Compare(ctx, $"CNN on {source}", ModelSpec.Parse("cnn:1x28x28:10"), images, 256);
        // The issue's case: the full Fashion-MNIST training set (60,000 images) when installed.
        var train = Directory.Exists(Datasets.FashionMnistDirectory) && !ctx.Quick ? Datasets.FromIdxDirectory(Datasets.FashionMnistDirectory, train: true) : images;
        DeadPass(ctx, train == images ? $"CNN on {source}" : "CNN on Fashion-MNIST train", ModelSpec.Parse("cnn:1x28x28:10"), train, 256);
        // An MLP at the same scale: a GEMM-bound pass with little work per activation value (the hardest case).
        Compare(ctx, $"MLP 784-256-128-10 on {(train == images ? source : "Fashion-MNIST train")}", ModelSpec.Parse("mlp:784-256-128-10:relu"), train, 256);
        DeadPass(ctx, $"MLP 784-256-128-10 on {(train == images ? source : "Fashion-MNIST train")}", ModelSpec.Parse("mlp:784-256-128-10:relu"), train, 256);

        StreamingMemory(ctx, ModelSpec.Parse("mlp:64-128-64-32-10:relu"), digits, ctx.Quick ? 2 : 5);

        // Issue 10: torchvision resnet18 on 256 images of 3x224x224, every leaf call hooked (17 ReLU calls among them)
        // with a streaming consumer, against the plain forward pass; target <= 1.1x. Smaller in quick and smoke runs.
        int n = ctx.Smoke ? 4 : ctx.Quick ? 32 : 256, side = ctx.Smoke ? 64 : 224;
        var rngR = new Random(2);
        var pics = new Dataset($"random 3x{side}x{side}", Matrix.Create(n, 3 * side * side, (_, _) => (float)rngR.NextDouble()), null, [3, side, side]);
        ResNet(ctx, ModelSpec.Parse($"torchvision:resnet18:3x{side}x{side}"), pics, ctx.Smoke ? 4 : 32);
    }

    /// <summary>
    /// The MLP 784-256-128-10's capture of every layer of Fashion-MNIST train into memory (187 MB of results), timed as
    /// the process's first: its result arrays are memory the kernel hands over and zeroes page by page, which the rounds
    /// of <see cref="Compare"/> (reusing memory the GC already holds) do not show. Warmed up on two batches first (the
    /// code, not the memory); three rounds, each keeping its result alive so the next one needs new memory too. Its floor
    /// is the plain pass plus the same values written into new arrays, also kept; and what writing memory new to the
    /// process costs here at all, in ms a MB, from one 64 MB array written once.
    /// </summary>
    static void FirstCapture(BenchContext ctx)
    {
        var data = Datasets.FromIdxDirectory(Datasets.FashionMnistDirectory, train: true);
        using var model = ModelSpec.Parse("mlp:784-256-128-10:relu").Build(0);
        var capture = new ActivationCapture(BatchSize: 256);
        var warm = data.Subset(Enumerable.Range(0, 512).ToArray());
        int[] widths = [];
        for (int i = 0; i < 5; i++) { Plain(model, warm, 256); widths = capture.ToMemory(model, warm).Outputs.Values.Select(m => m.Cols).ToArray(); }
        var kept = new List<object>();
        var ratios = new List<double>();
        var floors = new List<double>();
        for (int r = 0; r < 3; r++)
        {
            CapturedActivations? result = null;
            float[][]? written = null;
            var t = Times(() => Plain(model, data, 256), () => result = capture.ToMemory(model, data), () => written = PlainAndWrites(model, data, 256, widths));
            kept.Add(result!);
            kept.Add(written!);
            ratios.Add(t[1] / t[0]);
            floors.Add(t[2] / t[0]);
        }
        var fresh = GC.AllocateUninitializedArray<float>(16 << 20);
        double write = Times(() => fresh.AsSpan().Fill(1f))[0];
        ctx.Out.WriteLine($"  MLP 784-256-128-10 on Fashion-MNIST train, every layer into memory (187 MB), each round's result kept, so every capture writes memory new to the process");
        ctx.Report("ratio in-memory capture into new memory / plain, median of 3 rounds", MedianOf(ratios), "x");
        ctx.Report("ratio plain + writing the same values into new memory, no hooks (its floor) / plain, median of 3 rounds", MedianOf(floors), "x");
        ctx.Report("writing memory new to the process (64 MB array, written once)", write * 1e3 / 64, "ms/MB");
        GC.KeepAlive(kept);
        GC.KeepAlive(fresh);
    }

    static void ResNet(BenchContext ctx, ModelSpec spec, Dataset data, int batchSize)
    {
        using var model = spec.Build(0);
        var capture = new ActivationCapture(BatchSize: batchSize);
        Plain(model, data, Math.Min(batchSize, data.Count));
        int sites = 0;
        var best = BestOf(ctx.Quick ? 1 : 2, () => Plain(model, data, batchSize), () => sites = capture.Run(model, data, new Counter()).Layers.Count);
        double plain = best[0], hooked = best[1];
        ctx.Out.WriteLine($"  {spec}: {data.Count} images, batch {batchSize}, {sites} sites hooked (every leaf call), streaming consumer");
        ctx.Report("resnet18 plain forward pass", plain, "s");
        ctx.Report("resnet18 forward pass + hooks on every site", hooked, "s");
        ctx.Report("ratio resnet18 hooked / plain (target <= 1.1)", hooked / plain, "x");
    }

    /// <summary>
    /// Runs the actions one after another, <paramref name="repeats"/> times (interleaved, so a drift in the machine's
    /// load hits all alike), and returns each one's best time in seconds.
    /// </summary>
    static double[] BestOf(int repeats, params Action[] runs)
    {
        var best = runs.Select(_ => double.MaxValue).ToArray();
        for (int r = 0; r < repeats; r++)
        {
            var t = Times(runs);
            for (int i = 0; i < runs.Length; i++) best[i] = Math.Min(best[i], t[i]);
        }
        return best;
    }

    static Dataset Repeat(Dataset d, int times)
    {
        var rows = Enumerable.Range(0, times).SelectMany(_ => Enumerable.Range(0, d.Count)).ToArray();
        return d.Subset(rows, $"{d.Name} x{times}");
    }

    static void Plain(nn.Module<Tensor, Tensor> model, Dataset data, int batchSize, Action<int, int>? afterBatch = null)
    {
        model.eval();
        using var _ = torch.no_grad();
        long[] shape = new[] { 0L }.Concat(data.SampleShape.Select(s => (long)s)).ToArray();
        int cols = data.Features.Cols;
        for (int start = 0; start < data.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, data.Count - start);
            using var scope = torch.NewDisposeScope();
            shape[0] = n;
            var x = torch.empty(shape, ScalarType.Float32);
            data.Features.Data.AsSpan(start * cols, n * cols).CopyTo(MemoryMarshal.Cast<byte, float>(x.bytes));
            model.call(x);
            afterBatch?.Invoke(start, n);
        }
    }

    /// <summary>
    /// The in-memory sink's floor: the plain pass, and after each batch as many values as the sink records of it (per
    /// layer, from a buffer in cache) written into fresh result arrays as the sink writes them (two halves on libtorch's
    /// threads from <see cref="ModuleRun.CopyHalvesThreshold"/> values, checked for NaN as they go). What no capture into memory can avoid; the rest of the sink's time is the hooks'.
    /// Returns the arrays written.
    /// </summary>
    static float[][] PlainAndWrites(nn.Module<Tensor, Tensor> model, Dataset data, int batchSize, int[] widths)
    {
        var outs = widths.Select(w => GC.AllocateUninitializedArray<float>(data.Count * w)).ToArray();
        var src = new float[batchSize * widths.Max()];
        Plain(model, data, batchSize, (start, n) =>
        {
            for (int k = 0; k < widths.Length; k++) ModuleRun.CopyAllFinite(src.AsSpan(0, n * widths[k]), outs[k].AsSpan(start * widths[k]));
        });
        return outs;
    }

    static void Compare(BenchContext ctx, string label, ModelSpec spec, Dataset data, int batchSize)
    {
        using var model = spec.Build(0);
        var capture = new ActivationCapture(BatchSize: batchSize);
        // Where the difference goes: every module hooked but only the last layer recorded (the hooks' own cost), and
        // for feature maps every layer recorded by its maximum instead of its mean over positions.
        var last = new ActivationCapture(new LayerSelector(spec.LayerNames[^1]), BatchSize: batchSize);
        var first = new ActivationCapture(Reduce: data.SampleShape.Length > 1 ? MapReduction.Max : MapReduction.First, BatchSize: batchSize);
        Plain(model, data, batchSize);
        var recorded = capture.ToMemory(model, data);
        var names = recorded.LayerNames;
        var widths = recorded.Outputs.Values.Select(m => m.Cols).ToArray();
        // The zero-copy way to stream: every layer's whole rows handed to a reader where libtorch holds them (here one
        // that reads every value, the non-finite check the copying path makes), nothing copied out.
        var inPlace = new ActivationCapture(Reduce: MapReduction.Flatten, BatchSize: batchSize)
        {
            PerSite = SiteReductions.None with { OutputReaders = names.ToDictionary(n => n, _ => (SiteReader)((rows, _, _) => Matrix.CountNonFinite(rows))) },
        };
        // The pass's length sets the number of rounds: the best of three, so one slow moment does not cut the rounds.
        double once = BestOf(3, () => Plain(model, data, batchSize))[0];
        long values = 0;
        // Rounds of about 3 s of plain passes in all, at least 9 (a 9 ms pass is at the mercy of one slow moment): each round
        // runs every variant after a plain pass, and each ratio is the median over rounds of variant / that plain pass.
        int repeats = ctx.Quick ? 2 : Math.Clamp((int)Math.Ceiling(3 / Math.Max(once, 1e-3)), 9, 100);
        var rounds = new List<double[]>();
        for (int r = 0; r < repeats; r++)
            rounds.Add(Times(() => Plain(model, data, batchSize),
                () => values = capture.ToMemory(model, data).Outputs.Values.Sum(m => (long)m.Data.Length),
                () => capture.Run(model, data, new Counter()),
                () => last.Run(model, data, new Counter()),
                () => first.Run(model, data, new Counter()),
                () => inPlace.Run(model, data),
                () => PlainAndWrites(model, data, batchSize, widths)));
        double Median(int k) => MedianOf(rounds.Select(t => t[k] / t[0]));
        ctx.Out.WriteLine($"  {label}: {data.Count} samples, batch {batchSize}, {spec.LayerNames.Count} hooked layers, {values / 1e6:F1} M values recorded; medians of {repeats} rounds");
        ctx.Report("plain forward pass (best)", rounds.Min(t => t[0]), "s");
        ctx.Report("forward pass + hooks + in-memory sink (best)", rounds.Min(t => t[1]), "s");
        ctx.Report("forward pass + hooks + streaming consumer (best)", rounds.Min(t => t[2]), "s");
        ctx.Report("ratio hooked (in-memory sink) / plain (target <= 1.1; issue 3's was 1.3)", Median(1), "x");
        ctx.Report("ratio plain + writing the sink's values into fresh arrays, no hooks (the in-memory floor) / plain", Median(6), "x");
        ctx.Report("ratio hooked (streaming) / plain (target <= 1.1)", Median(2), "x");
        ctx.Report("ratio all modules hooked, one layer recorded / plain", Median(3), "x");
        ctx.Report(data.SampleShape.Length > 1 ? "ratio every layer recorded, max over positions / plain" : "ratio every layer recorded (2-d outputs, nothing to reduce) / plain", Median(4), "x");
        ctx.Report("ratio every layer read in place by a site reader, whole rows, no copy / plain", Median(5), "x");
    }

    /// <summary>The median (of an even count, the mean of the middle two).</summary>
    static double MedianOf(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>Each action's time in seconds, run once each in order.</summary>
    static double[] Times(params Action[] runs) => runs.Select(run =>
    {
        var sw = Stopwatch.StartNew();
        run();
        return sw.Elapsed.TotalSeconds;
    }).ToArray();

    /// <summary>
    /// Issue 14 item 3: the whole dead-unit study (every ReLU's output and pre-activation captured, per-channel firing
    /// statistics, the causes) against the plain forward pass of the same model on the same data; target <= 1.1x.
    /// </summary>
    internal static void DeadPass(BenchContext ctx, string label, ModelSpec spec, Dataset data, int batchSize)
    {
        using var model = spec.Build(0);
        var study = new Probe.Analysis.DeadUnitStudy(BatchSize: batchSize);
        Plain(model, data, batchSize);
        study.Run(model, data);
        int layers = 0;
        // This machine's speed drifts by tens of percent between seconds: each round times the two back to back, in
        // turn plain first and study first (so a steady drift favours neither), and the median of the rounds' ratios
        // is reported beside the ratio of the best times.
        var rounds = new List<double[]>();
        Action plainPass = () => Plain(model, data, batchSize), studyPass = () => layers = study.Run(model, data).Layers.Length;
        // At least 12 rounds and about 20 s of plain passes (a 0.2 s MLP pass gets 90 rounds, a 2 s CNN pass 12).
        double once = BestOf(2, plainPass)[0];
        int repeats = ctx.Quick ? 2 : Math.Clamp((int)Math.Ceiling(20 / Math.Max(once, 1e-3)), 12, 100);
        for (int r = 0; r < repeats; r++)
        {
            var t = r % 2 == 0 ? Times(plainPass, studyPass) : Times(studyPass, plainPass);
            rounds.Add(r % 2 == 0 ? t : [t[1], t[0]]);
        }
        double plain = rounds.Min(t => t[0]), dead = rounds.Min(t => t[1]);
        ctx.Out.WriteLine($"  dead-unit study, {label}: {data.Count} samples, batch {batchSize}, {layers} activation layers with pre-activations");
        ctx.Report("plain forward pass", plain, "s");
        ctx.Report("dead-unit study", dead, "s");
        ctx.Report("ratio study / plain, best times", dead / plain, "x");
        ctx.Report($"ratio study / plain, median of {rounds.Count} rounds (target <= 1.1)", MedianOf(rounds.Select(r => r[1] / r[0])), "x");
    }

    sealed class Counter : IActivationConsumer
    {
        public long Values;
        public void OnBatch(ActivationBatch batch) { foreach (var m in batch.Outputs.Values) Values += m.Rows * m.Cols; }
    }

    static void StreamingMemory(BenchContext ctx, ModelSpec spec, Dataset digits, int baseRepeats)
    {
        using var model = spec.Build(0);
        var capture = new ActivationCapture(BatchSize: 64);
        var small = Repeat(digits, baseRepeats);
        var large = Repeat(digits, baseRepeats * 10);
        capture.Run(model, small, new Counter()); // warm-up: libtorch's allocator and the JIT settle first
        GC.Collect();
        double rss0 = BenchContext.ResidentMiB();
        var c1 = new Counter();
        capture.Run(model, small, c1);
        GC.Collect();
        double rss1 = BenchContext.ResidentMiB();
        // The large data set itself takes memory (it is in memory as features); count only what the run adds.
        GC.Collect();
        double rssBeforeLarge = BenchContext.ResidentMiB();
        var c2 = new Counter();
        capture.Run(model, large, c2);
        GC.Collect();
        double rss2 = BenchContext.ResidentMiB();
        int b1 = (small.Count + 63) / 64, b2 = (large.Count + 63) / 64;
        ctx.Out.WriteLine($"  streaming sink: {b1} batches ({c1.Values / 1e6:F0} M values) vs {b2} batches ({c2.Values / 1e6:F0} M values)");
        ctx.Report($"resident memory growth over {b1} batches", rss1 - rss0, "MiB");
        ctx.Report($"resident memory growth over {b2} batches", rss2 - rssBeforeLarge, "MiB");
        ctx.Report("activation data streamed in the large run", c2.Values * 4 / 1048576.0, "MiB");
    }
}

/// <summary>Issue 14 item 3 alone: the dead-unit study against the plain forward pass (also part of <c>capture</c>).</summary>
public sealed class DeadPassBenchmarks : IBenchmark
{
    public string Name => "dead-pass";
    public string Description => "Dead-unit study vs plain forward pass of the CNN and an MLP on Fashion-MNIST train (ratio).";

    public void Run(BenchContext ctx)
    {
        bool fashion = Directory.Exists(Datasets.FashionMnistDirectory);
        var data = fashion ? Datasets.FromIdxDirectory(Datasets.FashionMnistDirectory, train: !ctx.Quick) : Datasets.Digits();
        if (ctx.Smoke) data = data.Subset(Enumerable.Range(0, Math.Min(500, data.Count)).ToArray());
        var spec = ModelSpec.Parse(fashion ? "cnn:1x28x28:10" : "cnn:8x8:10");
        CaptureBenchmarks.DeadPass(ctx, $"CNN on {data.Name}", spec, data, 256);
        // The same for an MLP (a GEMM-bound pass with little work per activation value).
        var mlp = ModelSpec.Parse($"mlp:{data.Features.Cols}-256-128-10:relu");
        CaptureBenchmarks.DeadPass(ctx, $"MLP {data.Features.Cols}-256-128-10 on {data.Name}", mlp, data, 256);
    }
}
