using System.Globalization;
using Probe;
using Probe.Capture;
using Probe.Data;
using Probe.Models;
using Probe.Reporting;
using Probe.Similarity;
using TorchSharp;

namespace LayerCorrespondence;

/// <summary>Settings of the layer-correspondence experiment.</summary>
/// <param name="Seeds">Networks trained per architecture (K; every ordered pair of them is compared).</param>
/// <param name="Epochs">Training epochs (Adam, lr 1e-3, batch 32).</param>
/// <param name="MaxSamples">Held-out samples the layers are compared on (a seeded choice of the test split).</param>
/// <param name="Architectures">"mlp" (3 tapering hidden layers), "mlp-deep" (6 x 128) and/or "cnn".</param>
/// <param name="Datasets">"digits" and/or "fashion-mnist".</param>
/// <param name="CnnWidths">CNN conv1, conv2 channels and fc1 width.</param>
/// <param name="FashionTrainSamples">Fashion-MNIST rows used (train + test), a seeded choice; keeps the run short on CPU.</param>
/// <param name="Seed">Seeds the split and sample choice; network k is initialised with Seed + 1 + k.</param>
/// <param name="WorkDirectory">Where run folders go (default: a fresh temporary folder, deleted afterwards).</param>
public sealed record CorrespondenceSettings(
    int Seeds = 5,
    int Epochs = 20,
    int MaxSamples = 500,
    string[]? Architectures = null,
    string[]? Datasets = null,
    int FashionTrainSamples = 6000,
    int[]? CnnWidths = null,
    int Seed = 0,
    string? WorkDirectory = null)
{
    public string[] Architectures { get; init; } = Architectures ?? ["mlp", "mlp-deep", "cnn"];
    public string[] Datasets { get; init; } = Datasets ?? ["digits"];
    /// <summary>CNN conv1, conv2 channels and fc1 width (default 16-32-64).</summary>
    public int[] CnnWidths { get; init; } = CnnWidths ?? [16, 32, 64];
}

/// <summary>How often one measure finds the corresponding layer: hits out of (ordered network pairs x layers).</summary>
public sealed record MeasureAccuracy(string Measure, double Accuracy, int Hits, int Total);

/// <summary>One data set x architecture row of the table.</summary>
public sealed record CorrespondenceRow(string Data, string Architecture, string Model, int Networks, string[] Layers, int Samples,
    double[] TestAccuracies, MeasureAccuracy[] Measures);

/// <summary>The whole table.</summary>
public sealed record CorrespondenceResult(CorrespondenceRow[] Rows, string[] Measures);

/// <summary>
/// Kornblith et al. 2019, Table 2: for networks of one architecture trained from different initialisations, how
/// often is the layer of network B most similar to layer i of network A the corresponding layer i? They report
/// 99.3% (linear CKA), 99.1% (RBF CKA 0.4), 45.4% (linear regression) and 1.4% (mean CCA) for 10-layer CNNs on
/// CIFAR-10. Here: K small MLPs and CNNs per data set, compared on held-out samples at every hidden layer's
/// post-activation output (for the CNN also the pooled maps, flattened) and the logits. Linear regression scores
/// layer j of B by the R^2 of fitting layer i of A from it; CCA is the mean canonical correlation.
/// </summary>
public static class LayerCorrespondenceStudy
{
    /// <summary>Kornblith et al. 2019, Table 2 (CIFAR-10 CNNs), in the order of <see cref="MeasureNames"/>.</summary>
    public static readonly double[] Published = [0.993, 0.991, 0.454, 0.014];

    /// <summary>The measures compared.</summary>
    public static readonly string[] MeasureNames = ["linear CKA", "RBF CKA 0.4", "linear regression R^2", "mean CCA"];

    /// <summary>Trains, captures, compares and prints the table to <paramref name="log"/>; returns the numbers.</summary>
    public static CorrespondenceResult Run(CorrespondenceSettings settings, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        if (settings.Seeds < 2) throw new ProbeException("Layer correspondence needs at least two networks per architecture.");
        string work = settings.WorkDirectory ?? Directory.CreateTempSubdirectory("probe-layer-correspondence-").FullName;
        var rows = new List<CorrespondenceRow>();
        int threads = torch.get_num_threads();
        torch.set_num_threads(1); // small products: one thread is as fast and never spin-waits on a busy machine
        try
        {
            foreach (string dataName in settings.Datasets)
            {
                var data = Load(dataName, settings);
                foreach (string arch in settings.Architectures)
                    rows.Add(RunOne(settings, data, dataName, arch, Path.Combine(work, dataName, arch), log));
            }
        }
        finally
        {
            torch.set_num_threads(threads);
            if (settings.WorkDirectory == null) Directory.Delete(work, recursive: true);
        }
        var result = new CorrespondenceResult(rows.ToArray(), MeasureNames);
        log.WriteLine();
        log.Write(Table(result));
        return result;
    }

    /// <summary>The table as text, with the published row for reference.</summary>
    public static string Table(CorrespondenceResult result)
    {
        var lines = result.Rows.Select(r => (IReadOnlyList<string>)new[] { $"{r.Data} {r.Architecture}", r.Networks.ToString(CultureInfo.InvariantCulture), r.Layers.Length.ToString(CultureInfo.InvariantCulture) }
            .Concat(r.Measures.Select(m => Pct(m.Accuracy))).ToArray()).ToList();
        lines.Add(new[] { "Kornblith 2019 (CIFAR-10 CNN)", "10", "9" }.Concat(Published.Select(Pct)).ToArray());
        return TextTable.Render(new[] { "networks", "K", "layers" }.Concat(result.Measures).ToArray(), lines);
    }

    private static string Pct(double v) => (100 * v).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    private static Dataset Load(string name, CorrespondenceSettings s)
    {
        var data = DataSource.Parse(name).Load();
        if (name.StartsWith("fashion", StringComparison.Ordinal) && data.Count > s.FashionTrainSamples)
            data = data.Subset(SampleChooser.Choose(data.Count, s.FashionTrainSamples, s.Seed), data.Name);
        return data;
    }

    private static CorrespondenceRow RunOne(CorrespondenceSettings s, Dataset data, string dataName, string arch, string dir, TextWriter log)
    {
        int h = data.SampleShape[^2], w = data.SampleShape[^1];
        var (spec, layers, reduce) = arch switch
        {
            // The demo's tapering MLP: three hidden layers and the logits.
            "mlp" => (ModelSpec.Mlp([data.Features.Cols, 128, 64, 32, 10]), new[] { "relu1", "relu2", "relu3", "fc4" }, MapReduction.Flatten),
            // Six equal-width hidden layers: deeper than the task needs, so the late layers become alike.
            "mlp-deep" => (ModelSpec.Mlp([data.Features.Cols, 128, 128, 128, 128, 128, 128, 10]), new[] { "relu1", "relu2", "relu3", "relu4", "relu5", "relu6", "fc7" }, MapReduction.Flatten),
            "cnn" => (ModelSpec.Cnn(1, h, w, 10, s.CnnWidths[0], s.CnnWidths[1], s.CnnWidths[2]), new[] { "relu1", "pool1", "relu2", "pool2", "relu3", "fc2" }, MapReduction.Flatten),
            _ => throw new ProbeException($"Unknown architecture '{arch}': use mlp, mlp-deep or cnn."),
        };
        // One held-out split for all networks, so every network is compared on the same unseen samples.
        var order = Enumerable.Range(0, data.Count).ToArray();
        new Random(s.Seed).Shuffle(order);
        var test = order.Take(data.Count / 5).Order().ToArray();
        var held = data.Subset(test);
        held = held.Subset(SampleChooser.Choose(held.Count, s.MaxSamples, s.Seed));
        var capture = new ActivationCapture(new LayerSelector(string.Join(",", layers)), reduce, BatchSize: 256);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var acts = new List<Matrix[]>();
        var accuracies = new List<double>();
        for (int k = 0; k < s.Seeds; k++)
        {
            var trainer = new Trainer("adam", s.Epochs, BatchSize: 32, LearningRate: 1e-3, Seed: s.Seed + 1 + k) { TestIndices = test };
            var run = trainer.Train(spec, data, dataName, Path.Combine(dir, $"seed-{k}"));
            accuracies.Add(run.Checkpoints[^1].TestAccuracy ?? double.NaN);
            using var model = run.BuildModel();
            var captured = capture.ToMemory(model, held);
            acts.Add(layers.Select(l => captured[l]).ToArray());
        }
        log.WriteLine($"{dataName} {arch}: {spec}, {s.Seeds} networks, test accuracy {string.Join(", ", accuracies.Select(a => a.ToString("0.000", CultureInfo.InvariantCulture)))}; comparing {layers.Length} layers on {held.Count} held-out samples (training and capture {clock.Elapsed.TotalSeconds:F1} s)");
        clock.Restart();

        var bases = acts.Select(a => a.Select((m, i) => CentredBasis.Of(m, $"layer '{layers[i]}'")).ToArray()).ToArray();
        var linear = new Cka();
        var rbf = new Cka(CkaKernel.Rbf, 0.4);
        var hits = new int[MeasureNames.Length];
        int total = 0;
        for (int a = 0; a < s.Seeds; a++)
            for (int b = 0; b < s.Seeds; b++)
            {
                if (a == b) continue;
                var scores = new double[MeasureNames.Length][][];
                scores[0] = linear.Cross(layers, acts[a], layers, acts[b]).Values;
                scores[1] = rbf.Cross(layers, acts[a], layers, acts[b]).Values;
                var baselines = Grid(layers.Length, (i, j) => LinearBaselines.Compare(bases[a][i], bases[b][j]));
                scores[2] = baselines.Select(r => r.Select(v => v.R2XFromY).ToArray()).ToArray();
                scores[3] = baselines.Select(r => r.Select(v => v.MeanCca).ToArray()).ToArray();
                for (int i = 0; i < layers.Length; i++)
                {
                    total++;
                    for (int m = 0; m < MeasureNames.Length; m++)
                        if (ArgMax(scores[m][i]) == i) hits[m]++;
                }
            }
        log.WriteLine($"  similarity of {s.Seeds * (s.Seeds - 1)} ordered network pairs: {clock.Elapsed.TotalSeconds:F1} s");
        var measures = MeasureNames.Select((n, m) => new MeasureAccuracy(n, (double)hits[m] / total, hits[m], total)).ToArray();
        return new CorrespondenceRow(dataName, arch, spec.ToString(), s.Seeds, layers, held.Count, accuracies.ToArray(), measures);
    }

    private static T[][] Grid<T>(int n, Func<int, int, T> f) =>
        Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Select(j => f(i, j)).ToArray()).ToArray();

    /// <summary>
    /// The index of the largest value. Values within 1e-9 of the best so far count as ties and go to the first index,
    /// so saturated scores (R^2 or CCA of 1 for every layer at least as wide as the sample count) do not hit by rounding.
    /// </summary>
    private static int ArgMax(double[] v)
    {
        int best = 0;
        for (int j = 1; j < v.Length; j++) if (v[j] > v[best] + 1e-9) best = j;
        return best;
    }
}
