using System.Globalization;
using Probe.Capture;
using Probe.Data;
using Probe.Models;

namespace Probe.Projection;

/// <summary>How a layer's activations become 2-D coordinates.</summary>
public enum ProjectionMethod
{
    /// <summary>The first two principal components (exact PCA, scikit-learn's sign convention).</summary>
    Pca,
    /// <summary>t-SNE (see <see cref="Tsne"/>).</summary>
    Tsne,
}

/// <summary>
/// The layer-evolution study: the same samples pushed through every selected checkpoint of a run, each selected
/// layer's activations projected to 2-D. Frames are kept stable down each column (same layer, successive
/// checkpoints): a PCA panel is aligned to the previous checkpoint's panel by orthogonal Procrustes (rotation or
/// reflection, no scaling); a t-SNE panel starts from the previous checkpoint's embedding (rescaled as openTSNE
/// recommends) and is then Procrustes-aligned too, so motion between rows reflects change in the network, not a flip
/// of the projection.
/// </summary>
/// <param name="Layers">Layer selector text (see <see cref="LayerSelector"/>); null = every hidden activation plus the output layer.</param>
/// <param name="Method">PCA or t-SNE.</param>
/// <param name="MaxSamples">Sample cap (stratified by class, seeded); null = every sample.</param>
/// <param name="Seed">Seeds the sample choice and t-SNE.</param>
/// <param name="Epochs">Checkpoints to show (their epochs); null = <see cref="DefaultEpochs"/> of the run.</param>
/// <param name="IncludeInput">Adds the input features as a first column named "input" (identical in every row).</param>
/// <param name="Perplexity">t-SNE perplexity (lowered to fit when the sample is small).</param>
/// <param name="TsneIterations">t-SNE iterations per panel (early exaggeration: the first min(250, a third) of them).</param>
/// <param name="TrustworthinessK">Neighbourhood size of the trustworthiness score (0 = skip it).</param>
/// <param name="QualitySamples">Rows of a fixed uniform subsample (seeded by <paramref name="Seed"/>) on which each panel's
/// trustworthiness is scored, as <c>probe project</c> scores it (the score is O(rows²)); all rows when there are no more.</param>
public sealed record EvolutionStudy(
    string? Layers = null,
    ProjectionMethod Method = ProjectionMethod.Pca,
    int? MaxSamples = 1000,
    int Seed = 0,
    int[]? Epochs = null,
    bool IncludeInput = false,
    double Perplexity = 30,
    int TsneIterations = 750,
    int TrustworthinessK = 10,
    int QualitySamples = SampledTrustworthiness.DefaultSamples)
{
    /// <summary>The pseudo-layer name of the input features.</summary>
    public const string InputLayer = "input";

    /// <summary>Stops the study between checkpoints, panels and t-SNE iterations when cancelled.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Where each checkpoint's model runs (default the CPU; see <see cref="Probe.Capture.ComputeDevice"/>).</summary>
    public Probe.Capture.ComputeDevice Device { get; init; } = Probe.Capture.ComputeDevice.Cpu;

    /// <summary>
    /// Called with (steps done, steps in all) as the study goes: one step per checkpoint captured and one per panel
    /// projected (a t-SNE panel also reports its iterations as a fraction of its step).
    /// </summary>
    public Action<int, int>? Progress { get; init; }

    /// <summary>Progress units per step (a t-SNE panel's iterations move within its step).</summary>
    const int StepUnits = 100;

    /// <summary>
    /// Runs the study on a run folder's checkpoints with <paramref name="data"/> (the run's data by default; a streamed
    /// data set is read for the sampled rows only, which are then held in memory).
    /// </summary>
    public EvolutionResult Run(RunFolder run, IDataset? data = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.Checkpoints.Count == 0) throw new ProbeException($"Run '{run.Directory}' has no checkpoints.");
        data ??= DataSource.Parse(run.Info.Data).Load();
        if (data is Dataset loaded) loaded.Validate();
        var spec = run.Spec;
        if (data.SampleSize() != spec.InputSize)
            throw new ProbeException($"Data set '{data.Name}' has {data.SampleSize()} features per sample but the run's model {spec} takes {spec.InputSize}.");
        int[] epochs = Epochs ?? DefaultEpochs(run.Checkpoints.Select(c => c.Epoch).ToArray());
        if (epochs.Length == 0) throw new ProbeException("The evolution study needs at least one checkpoint epoch.");
        foreach (var e in epochs) run.Checkpoint(e); // throws listing the available epochs
        var selector = new LayerSelector(Layers ?? DefaultLayers(spec));

        int[] rows = MaxSamples is int cap ? data.SampleIndices(cap, Seed) : Enumerable.Range(0, data.Count).ToArray();
        var sample = (rows.Length == data.Count ? data : data.Subset(rows)).ToMemory();
        var capture = new ActivationCapture(selector) { Cancellation = Cancellation, Device = Device };
        var perCheckpoint = new List<IReadOnlyDictionary<string, Matrix>>();
        IReadOnlyList<string>? layerNames = null;
        // Progress: the checkpoints' captures, then the panels (the layer count is known after the first capture).
        for (int i = 0; i < epochs.Length; i++)
        {
            using var model = run.BuildModel(epochs[i]);
            var acts = capture.ToMemory(model, sample);
            layerNames ??= acts.LayerNames;
            perCheckpoint.Add(acts.Outputs);
            Progress?.Invoke((i + 1) * StepUnits, (epochs.Length + (layerNames.Count + (IncludeInput ? 1 : 0)) * epochs.Length) * StepUnits);
        }
        var names = new List<string>();
        if (IncludeInput) names.Add(InputLayer);
        names.AddRange(layerNames!);
        var accuracy = epochs.Select(e => run.Checkpoint(e).TrainAccuracy).ToArray();
        var study = Progress is { } report ? this with { Progress = (done, total) => report(epochs.Length * StepUnits + done, epochs.Length * StepUnits + total) } : this;
        return study.Project(epochs, names, i => WithInput(perCheckpoint[i], sample.Features), sample.Labels, rows, accuracy);
    }

    static IReadOnlyDictionary<string, Matrix> WithInput(IReadOnlyDictionary<string, Matrix> outputs, Matrix input)
    {
        var d = new Dictionary<string, Matrix>(outputs, StringComparer.Ordinal) { [InputLayer] = input };
        return d;
    }

    /// <summary>
    /// Projects given activations: <paramref name="activations"/>(i) returns checkpoint i's matrix per layer name (same
    /// rows, same order, in every checkpoint). This is the model-free core of <see cref="Run(RunFolder, IDataset?)"/>.
    /// </summary>
    public EvolutionResult Project(IReadOnlyList<int> epochs, IReadOnlyList<string> layers,
        Func<int, IReadOnlyDictionary<string, Matrix>> activations, int[]? labels, int[]? sampleIndices = null,
        double[]? trainAccuracy = null)
    {
        ArgumentNullException.ThrowIfNull(epochs);
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(activations);
        if (epochs.Count == 0) throw new ProbeException("The evolution study needs at least one checkpoint.");
        if (layers.Count == 0) throw new ProbeException("The evolution study needs at least one layer.");
        if (MaxSamples is int m && m < 4) throw new ProbeException($"The sample cap must be at least 4, got {m}.");
        var panels = new EvolutionPanel[epochs.Count][];
        int n = -1;
        double? perplexityUsed = null;
        // input panels are identical in every row: project them once
        var inputCache = new Dictionary<string, EvolutionPanel>(StringComparer.Ordinal);
        int totalSteps = epochs.Count * layers.Count * StepUnits;
        for (int c = 0; c < epochs.Count; c++)
        {
            var acts = activations(c);
            panels[c] = new EvolutionPanel[layers.Count];
            for (int l = 0; l < layers.Count; l++)
            {
                Cancellation.ThrowIfCancellationRequested();
                string layer = layers[l];
                if (!acts.TryGetValue(layer, out var x))
                    throw new ProbeException($"Checkpoint {epochs[c]} has no activations for layer '{layer}'; it has: {string.Join(", ", acts.Keys)}.");
                if (n < 0) n = x.Rows;
                if (x.Rows != n) throw new ProbeException($"Every panel must show the same samples: layer '{layer}' at epoch {epochs[c]} has {x.Rows} rows, expected {n}.");
                x.EnsureNotEmpty($"Layer '{layer}' at epoch {epochs[c]}").EnsureFinite($"Layer '{layer}' at epoch {epochs[c]}");
                if (layer == InputLayer && inputCache.TryGetValue(layer, out var cached))
                {
                    panels[c][l] = cached with { Epoch = epochs[c] };
                    Progress?.Invoke((c * layers.Count + l + 1) * StepUnits, totalSteps);
                    continue;
                }
                var previous = c > 0 ? panels[c - 1][l] : null;
                int step = (c * layers.Count + l) * StepUnits;
                Action<int, int>? iterations = Progress is { } report ? (done, total) => report(step + (int)((long)StepUnits * done / Math.Max(1, total)), totalSteps) : null;
                var panel = ProjectPanel(x, epochs[c], layer, previous, ref perplexityUsed, iterations);
                panels[c][l] = panel;
                if (layer == InputLayer) inputCache[layer] = panel;
                Progress?.Invoke(step + StepUnits, totalSteps);
            }
        }
        if (labels != null && labels.Length != n)
            throw new ProbeException($"{labels.Length} labels for {n} samples.");
        return new EvolutionResult(
            Method, epochs.ToArray(), layers.ToArray(), sampleIndices ?? Enumerable.Range(0, n).ToArray(),
            labels ?? new int[n], labels != null, panels, perplexityUsed, Seed, trainAccuracy)
        {
            Quality = Scored(n) ? TrustworthinessScore.Describe(TrustworthinessK, Math.Min(n, QualitySamples), n, Seed) : null,
        };
    }

    /// <summary>Whether panels of <paramref name="rows"/> points get a trustworthiness score: k neighbours need more than 2k rows scored.</summary>
    bool Scored(int rows) => TrustworthinessK > 0 && QualitySamples > 0 && TrustworthinessK < Math.Min(rows, QualitySamples) / 2.0;

    EvolutionPanel ProjectPanel(Matrix x, int epoch, string layer, EvolutionPanel? previous, ref double? perplexityUsed, Action<int, int>? iterations)
    {
        Matrix emb;
        double[]? ratio = null;
        double? kl = null;
        if (Method == ProjectionMethod.Pca)
        {
            (emb, ratio) = Pca2(x);
        }
        else
        {
            int n = x.Rows;
            if (n < 8) throw new ProbeException($"t-SNE panels need at least 8 samples, got {n}.");
            double perplexity = Math.Min(Perplexity, Math.Floor((n - 2) / 3.0));
            perplexityUsed = perplexity;
            // early exaggeration takes at most a third of the iterations, so short runs still reach the normal phase
            var tsne = new Tsne(Perplexity: perplexity, Iterations: TsneIterations, Seed: Seed, ExaggerationIterations: Math.Min(250, TsneIterations / 3),
                Init: previous?.ToMatrix(), RescaleInit: previous != null) { Cancellation = Cancellation, Progress = iterations };
            var r = tsne.Run(x);
            emb = r.Embedding;
            kl = r.KlDivergence;
        }
        bool reflected = false;
        if (previous != null)
        {
            var fit = Procrustes.Fit(emb, previous.ToMatrix());
            emb = fit.Apply(emb);
            reflected = fit.Reflection;
        }
        double? trust = null;
        if (Scored(x.Rows))
            trust = SampledTrustworthiness.Compute(x, emb, TrustworthinessK, QualitySamples, Seed).Value;
        var xs = new double[emb.Rows];
        var ys = new double[emb.Rows];
        for (int i = 0; i < emb.Rows; i++) { xs[i] = emb[i, 0]; ys[i] = emb[i, 1]; }
        return new EvolutionPanel(epoch, layer, x.Cols, xs, ys, ratio, kl, trust, reflected);
    }

    /// <summary>The 2-D PCA of x with explained-variance ratios; a one-column layer is shown as (value, 0).</summary>
    static (Matrix, double[]) Pca2(Matrix x)
    {
        if (x.Cols == 1 || x.Rows < 3)
        {
            var e = new Matrix(x.Rows, 2);
            double mean = 0;
            for (int i = 0; i < x.Rows; i++) mean += x.Data[i * x.Cols];
            mean /= x.Rows;
            for (int i = 0; i < x.Rows; i++) e[i, 0] = (float)(x.Data[i * x.Cols] - mean);
            return (e, [1.0, 0.0]);
        }
        var fit = new Pca(2, PcaSolver.Exact).Fit(x);
        return (fit.Transform(x), fit.ExplainedVarianceRatio);
    }

    /// <summary>
    /// Every hidden activation (children named after the activation: relu1, tanh2, ...) plus the output layer, as a
    /// selector; for a CNN, its activations and the output layer. A ResNet (resnet:..., torchvision:resnetNN) has one
    /// activation module called throughout, so its columns are the output of each stage (layer1 ... layer4: the last
    /// block's final ReLU) and the output layer; a torchvision VGG, AlexNet or MobileNet, its convolutional stack
    /// (features) and the output.
    /// </summary>
    public static string DefaultLayers(ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var names = spec.LayerNames;
        var chosen = spec.Kind is ModelKind.ResNet or ModelKind.TorchVision
            ? names.Where(n => n == "features" || n.Length > 5 && n.StartsWith("layer", StringComparison.Ordinal) && n.AsSpan(5).IndexOfAnyExceptInRange('0', '9') < 0).ToList()
            : names.Where(n => n.StartsWith(spec.Activation, StringComparison.Ordinal)
                && n.Length > spec.Activation.Length && char.IsDigit(n[spec.Activation.Length])).ToList();
        chosen.Add(names[^1]);
        return string.Join(",", chosen);
    }

    /// <summary>
    /// At most <paramref name="maxRows"/> epochs from <paramref name="available"/>: the first, the last, and between them
    /// 1, 2, 5, 10, 20, 50, ... (those present), thinned evenly when there are too many.
    /// </summary>
    public static int[] DefaultEpochs(IReadOnlyList<int> available, int maxRows = 6)
    {
        ArgumentNullException.ThrowIfNull(available);
        if (available.Count == 0) return [];
        if (maxRows < 1) throw new ProbeException($"maxRows must be positive, got {maxRows}.");
        var sorted = available.Distinct().OrderBy(e => e).ToArray();
        if (sorted.Length <= maxRows) return sorted;
        int first = sorted[0], last = sorted[^1];
        if (maxRows == 1) return [last];
        var set = new HashSet<int>(sorted);
        var middle = new List<int>();
        for (long step = 1; step < last; step *= 10)
            foreach (var k in new[] { 1L, 2L, 5L })
            {
                long e = step * k;
                if (e > first && e < last && set.Contains((int)e) && !middle.Contains((int)e)) middle.Add((int)e);
            }
        int room = maxRows - 2;
        if (middle.Count > room)
            middle = room <= 0 ? [] : room == 1 ? [middle[middle.Count / 2]]
                : Enumerable.Range(0, room).Select(i => middle[(int)Math.Round(i * (middle.Count - 1) / (double)(room - 1))]).Distinct().ToList();
        return [first, .. middle, last];
    }
}

/// <summary>
/// One panel: the 2-D coordinates of every sample for one layer at one checkpoint, the layer's width, the PCA
/// explained-variance ratios (PCA) or the final KL divergence (t-SNE), the trustworthiness (k = 10) of the 2-D
/// picture, and whether the alignment to the previous checkpoint's panel reflected it.
/// </summary>
public sealed record EvolutionPanel(int Epoch, string Layer, int Features, double[] X, double[] Y,
    double[]? ExplainedVarianceRatio, double? KlDivergence, double? Trustworthiness, bool Reflected)
{
    /// <summary>The coordinates as an n x 2 matrix.</summary>
    public Matrix ToMatrix()
    {
        var m = new Matrix(X.Length, 2);
        for (int i = 0; i < X.Length; i++) { m[i, 0] = (float)X[i]; m[i, 1] = (float)Y[i]; }
        return m;
    }

    /// <summary>A short description: "PC1+PC2 61% of variance" or "KL 0.81".</summary>
    public string Summary =>
        ExplainedVarianceRatio is { Length: >= 2 } r ? string.Create(CultureInfo.InvariantCulture, $"PC1+2 {100 * (r[0] + r[1]):0}%")
        : KlDivergence is double kl ? string.Create(CultureInfo.InvariantCulture, $"KL {kl:0.00}") : "";
}

/// <summary>
/// The result of an <see cref="EvolutionStudy"/> (plain data): Panels[checkpoint][layer], the epochs (rows) and layer
/// names (columns), the data rows shown (SampleIndices) with their Labels (all 0 when the data has none:
/// <see cref="HasLabels"/> false), the perplexity actually used by t-SNE, the seed, and per row the run's training
/// accuracy when known.
/// </summary>
public sealed record EvolutionResult(
    ProjectionMethod Method,
    int[] Epochs,
    string[] Layers,
    int[] SampleIndices,
    int[] Labels,
    bool HasLabels,
    EvolutionPanel[][] Panels,
    double? Perplexity,
    int Seed,
    double[]? TrainAccuracy)
{
    /// <summary>What each panel's trustworthiness was scored on ("k=10, 5000 of 10000 rows (uniform, seed 0)"), or null when it was not.</summary>
    public string? Quality { get; init; }

    /// <summary>The panel of <paramref name="layer"/> at <paramref name="epoch"/>.</summary>
    public EvolutionPanel Panel(int epoch, string layer)
    {
        int r = Array.IndexOf(Epochs, epoch);
        int c = Array.IndexOf(Layers, layer);
        if (r < 0) throw new ProbeException($"No row for epoch {epoch}; epochs: {string.Join(", ", Epochs)}.");
        if (c < 0) throw new ProbeException($"No column for layer '{layer}'; layers: {string.Join(", ", Layers)}.");
        return Panels[r][c];
    }
}
