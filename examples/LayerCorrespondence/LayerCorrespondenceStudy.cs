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
/// <param name="Architectures">"mlp" (3 tapering hidden layers), "mlp-deep" (6 x 128), "cnn" and/or "plain10"
/// (Kornblith et al.'s plain 10-layer CNN, see <see cref="Plain10"/>).</param>
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
    /// <summary>plain10: channels of the first three convolutions (the other five have twice as many). Kornblith et al. use 96.</summary>
    public int PlainWidth { get; init; } = 16;
    /// <summary>plain10: training epochs (its own setting: one plain-10 epoch costs far more than an MLP's).</summary>
    public int PlainEpochs { get; init; } = 3;

    /// <summary>
    /// The opt-in Kornblith setting (<c>--plain10</c>, or the environment variable PROBE_PLAIN10=1): the plain 10-layer
    /// CNN on Fashion-MNIST only, K = 5 networks, with the CPU-sized defaults of <see cref="PlainWidth"/>,
    /// <see cref="PlainEpochs"/> and <see cref="FashionTrainSamples"/>.
    /// </summary>
    public static CorrespondenceSettings Plain10Setting() =>
        new(Seeds: 5, MaxSamples: 500, Architectures: ["plain10"], Datasets: ["fashion-mnist"], FashionTrainSamples: 10000);
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
/// often is the layer of network B most similar to layer i of network A the corresponding layer i? For plain
/// 10-layer CNNs on CIFAR-10 they report 99.3% for linear CKA (the figure the issue quotes; the table's other columns
/// are not repeated here because they could not be checked against the paper offline). Here: K small MLPs and CNNs per data set, compared
/// on held-out samples at every hidden layer's post-activation output (for the CNN also the pooled maps, flattened)
/// and the logits, by every measure of <see cref="SimilarityMeasure.Names"/> (one column each; RBF CKA added).
/// Linear regression scores layer j of B by the R^2 of fitting layer i of A from it; the CCA family by the mean
/// canonical correlation (SVCCA: of the top directions keeping 99% of the variance); PWCCA weights by the narrower
/// side. Each network's layers are prepared once per measure (<see cref="SimilarityMeasure.AllPairs"/> over the
/// layers of all K networks).
/// </summary>
public static class LayerCorrespondenceStudy
{
    /// <summary>The measures compared, one column each: (column title, measure).</summary>
    public static readonly (string Title, SimilarityMeasure Measure)[] Measures =
    [
        ("linear CKA", new CkaMeasure()),
        ("RBF CKA 0.4", new CkaMeasure(new Cka(CkaKernel.Rbf, 0.4))),
        ("linreg R^2", new LinearRegressionMeasure()),
        ("mean CCA", new MeanCcaMeasure()),
        ("SVCCA", new SvccaMeasure()),
        ("PWCCA", new PwccaMeasure()),
        ("Procrustes", new ProcrustesMeasure()),
        ("mutual 10-NN", new MutualKnnMeasure()),
        ("RSA", new RsaMeasure()),
    ];

    /// <summary>
    /// Kornblith et al. 2019, Table 2 (CIFAR-10 plain-10 CNNs), in the order of <see cref="MeasureNames"/>, as the README
    /// shows it: linear CKA's 99.3% (the figure the issue quotes); "see paper" where the table has a value that could not
    /// be checked against the paper offline; "-" where it has no such row.
    /// </summary>
    public static readonly string[] Published = ["99.3%", "see paper", "see paper", "see paper", "see paper", "see paper", "-", "-", "-"];

    /// <summary>The column titles.</summary>
    public static readonly string[] MeasureNames = Measures.Select(m => m.Title).ToArray();

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
        lines.Add(new[] { "Kornblith 2019 (CIFAR-10 plain-10)", "10", "9" }.Concat(Published).ToArray());
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
        ModelSpec? spec = null;
        string[] layers;
        switch (arch)
        {
            // The demo's tapering MLP: three hidden layers and the logits.
            case "mlp": spec = ModelSpec.Mlp([data.Features.Cols, 128, 64, 32, 10]); layers = ["relu1", "relu2", "relu3", "fc4"]; break;
            // Six equal-width hidden layers: deeper than the task needs, so the late layers become alike.
            case "mlp-deep": spec = ModelSpec.Mlp([data.Features.Cols, 128, 128, 128, 128, 128, 128, 10]); layers = ["relu1", "relu2", "relu3", "relu4", "relu5", "relu6", "fc7"]; break;
            case "cnn": spec = ModelSpec.Cnn(1, h, w, 10, s.CnnWidths[0], s.CnnWidths[1], s.CnnWidths[2]); layers = ["relu1", "pool1", "relu2", "pool2", "relu3", "fc2"]; break;
            case "plain10": layers = Plain10.Layers; break;
            default: throw new ProbeException($"Unknown architecture '{arch}': use mlp, mlp-deep, cnn or plain10.");
        }
        // One held-out split for all networks, so every network is compared on the same unseen samples.
        var order = Enumerable.Range(0, data.Count).ToArray();
        new Random(s.Seed).Shuffle(order);
        var test = order.Take(data.Count / 5).Order().ToArray();
        var held = data.Subset(test);
        held = held.Subset(SampleChooser.Choose(held.Count, s.MaxSamples, s.Seed));
        var capture = new ActivationCapture(new LayerSelector(string.Join(",", layers)), MapReduction.Flatten, BatchSize: 256);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var acts = new List<Matrix[]>();
        var accuracies = new List<double>();
        string model = spec?.ToString() ?? Plain10.Describe(1, h, w, s.PlainWidth);
        for (int k = 0; k < s.Seeds; k++)
        {
            CapturedActivations captured;
            if (spec is null)
            {
                using var net = new Plain10(1, h, w, 10, s.PlainWidth, s.Seed + 1 + k);
                var trainRows = Enumerable.Range(0, data.Count).Except(test).ToArray();
                accuracies.Add(net.Fit(data.Subset(trainRows), data.Subset(test), s.PlainEpochs, s.Seed + 1 + k));
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  plain10 network {k}: last-epoch training loss {net.LastLoss:0.000}, test accuracy {accuracies[^1]:0.000} ({clock.Elapsed.TotalSeconds:F0} s)"));
                net.eval();
                captured = capture.ToMemory(net, held);
            }
            else
            {
                var trainer = new Trainer("adam", s.Epochs, BatchSize: 32, LearningRate: 1e-3, Seed: s.Seed + 1 + k) { TestIndices = test };
                var run = trainer.Train(spec, data, dataName, Path.Combine(dir, $"seed-{k}"));
                accuracies.Add(run.Checkpoints[^1].TestAccuracy ?? double.NaN);
                using var net = run.BuildModel();
                captured = capture.ToMemory(net, held);
            }
            acts.Add(layers.Select(l => captured[l]).ToArray());
        }
        log.WriteLine($"{dataName} {arch}: {model}, {s.Seeds} networks, test accuracy {string.Join(", ", accuracies.Select(a => a.ToString("0.000", CultureInfo.InvariantCulture)))}; comparing {layers.Length} layers on {held.Count} held-out samples (training and capture {clock.Elapsed.TotalSeconds:F1} s)");

        // Every layer of every network, named "k/layer": each measure prepares each layer once.
        var all = acts.SelectMany((a, k) => a.Select((m, i) => ($"{k}/{layers[i]}", m))).ToList();
        int L = layers.Length;
        var hits = new int[Measures.Length];
        int total = s.Seeds * (s.Seeds - 1) * L;
        for (int m = 0; m < Measures.Length; m++)
        {
            clock.Restart();
            var (title, measure) = Measures[m];
            var table = measure.AllPairs(all).Values;
            for (int a = 0; a < s.Seeds; a++)
                for (int b = 0; b < s.Seeds; b++)
                {
                    if (a == b) continue;
                    for (int i = 0; i < L; i++)
                    {
                        // Linear regression scores B's layer j by how well it predicts A's layer i (R^2 of A_i from B_j).
                        var scores = Enumerable.Range(0, L).Select(j => measure is LinearRegressionMeasure ? table[b * L + j][a * L + i] : table[a * L + i][b * L + j]).ToArray();
                        if (ArgMax(scores) == i) hits[m]++;
                    }
                }
            log.WriteLine($"  {title}: {hits[m]}/{total} ({clock.Elapsed.TotalSeconds:F1} s)");
        }
        var measures = MeasureNames.Select((n, m) => new MeasureAccuracy(n, (double)hits[m] / total, hits[m], total)).ToArray();
        return new CorrespondenceRow(dataName, arch, model, s.Seeds, layers, held.Count, accuracies.ToArray(), measures);
    }

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
