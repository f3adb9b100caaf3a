using Probe.Capture;
using Probe.Data;
using Probe.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Analysis;

/// <summary>
/// The dead-unit result of one layer (plain data). <see cref="Positions"/> is the number of spatial positions per unit
/// (1 for dense layers). <see cref="Causes"/> explains each dead unit when the layer is a ReLU-like layer fed directly
/// by a Linear or Conv layer (<see cref="PrecedingLayer"/>); otherwise it is empty and <see cref="CauseNote"/> says why.
/// </summary>
public sealed record DeadLayerResult(
    string Layer,
    string ModuleType,
    int[] OutputShape,
    int Positions,
    LayerUnitStats Stats,
    float[]? MaxPreActivation,
    string? PrecedingLayer,
    string? PrecedingType,
    DeadUnitCause[] Causes,
    string? CauseNote)
{
    /// <summary>The BatchNorm folded into <see cref="PrecedingLayer"/>'s weights to explain dead units, if any.</summary>
    public string? FoldedNorm { get; init; }

    /// <summary>
    /// Set when the layer's values were reduced before the study read them (stored by <c>probe capture --reduce mean</c>,
    /// max, first or last: one value per unit per sample). Its units are then judged on those values, and the
    /// layer-wide figures of <see cref="Stats"/> that describe activations (sparsity, epsilon sparsity, mean, std, min,
    /// max, largest row norm) are NaN: they would describe the reduced values. <see cref="ReductionNote"/> says so.
    /// </summary>
    public StoredReduction? Reduced { get; init; }

    /// <summary>For a <see cref="Reduced"/> layer: what its units were judged on and why its layer-wide figures are missing.</summary>
    public string? ReductionNote { get; init; }

    /// <summary>
    /// Set when nothing said what the layer computes (a .npy file without a type in layers.json) and its values were
    /// judged from the data alone: with values &lt; 0 it is judged as a linear layer (dead = exactly 0 on every sample),
    /// which an activation that can be negative (LeakyReLU, GELU, ELU, SiLU) almost never is. Says so, and how to give the type.
    /// </summary>
    public string? ActivationNote { get; init; }

    /// <summary>Number of dead units per <see cref="DeadUnitReason"/> (reasons with no unit are left out).</summary>
    public Dictionary<string, int> CauseCounts =>
        Causes.GroupBy(c => c.Reason).OrderBy(g => g.Key).ToDictionary(g => g.Key.ToString(), g => g.Count());
}

/// <summary>The dead-unit study of one model on one data set: one <see cref="DeadLayerResult"/> per selected layer, in firing order.</summary>
public sealed record DeadUnitStudyResult(int Samples, double DyingThreshold, string FiringRule, DeadLayerResult[] Layers)
{
    /// <summary>Why each layer the default selection took could not be judged, and so is not in <see cref="Layers"/> (empty when none).</summary>
    public string[] LeftOut { get; init; } = [];

    /// <summary>The model input whose token mask kept padding tokens out of the sequence layers' judgement (see <see cref="DeadUnitStudy.TokenMask"/>); null when none did.</summary>
    public string? TokenMask { get; init; }

    /// <summary>The result of one layer; an unknown name lists the analysed ones.</summary>
    public DeadLayerResult Layer(string name) => Layers.FirstOrDefault(l => l.Layer == name)
        ?? throw new ProbeException($"Layer '{name}' was not analysed. Analysed layers: {string.Join(", ", Layers.Select(l => l.Layer))}.");
}

/// <summary>
/// One layer across checkpoints: <see cref="FiringRates"/>[checkpoint][unit] (units x checkpoints numbers), the dead and
/// dying fractions per checkpoint, and each unit's death record (<see cref="DeadUnitDiagnosis.Timeline"/>).
/// </summary>
public sealed record DeadLayerTimeline(
    string Layer,
    string ModuleType,
    int Units,
    float[][] FiringRates,
    double[] DeadFraction,
    double[] DyingFraction,
    UnitDeathRecord[] Deaths)
{
    /// <summary>Units dead at the last checkpoint that were already dead at the first.</summary>
    public int DeadFromInitialisation => Deaths.Count(d => d.DeadFromInitialisation);

    /// <summary>Units dead at the last checkpoint that were alive at some earlier checkpoint.</summary>
    public int DiedInTraining => Deaths.Count(d => d.DiedInTraining);
}

/// <summary>A run folder's dead-unit history: per layer timelines over <see cref="Epochs"/>, plus the full study of the last checkpoint.</summary>
public sealed record DeadUnitTimelineResult(int[] Epochs, DeadLayerTimeline[] Layers, DeadUnitStudyResult Final)
{
    /// <summary>The timeline of one layer.</summary>
    public DeadLayerTimeline Layer(string name) => Layers.FirstOrDefault(l => l.Layer == name)
        ?? throw new ProbeException($"Layer '{name}' has no timeline. Layers: {string.Join(", ", Layers.Select(l => l.Layer))}.");
}

/// <summary>
/// Dead-unit diagnosis of a model on a data set, streamed through <see cref="ActivationCapture"/> (memory O(units),
/// not O(samples)). Layers default to the activation layers (ReLU-like, sigmoid, tanh; every leaf when the model has
/// none). Feature maps are captured whole: a channel fires on a sample when any of its positions is &gt; 0 (see
/// <see cref="UnitStatsAccumulator.AddSpatial"/>), and sparsity counts every value. For a dead unit of a ReLU-like layer
/// whose input comes straight from a Linear or Conv layer (the leaf module that fired just before it), the cause is
/// read from that layer's weight and bias (<c>DeadUnitDiagnosis.Explain</c>).
/// </summary>
public sealed record DeadUnitStudy(
    LayerSelector? Layers = null,
    double DyingThreshold = 0.01,
    double Epsilon = 0,
    double SaturationFraction = 0.99,
    int BatchSize = 256)
{
    /// <summary>Stops the study between batches when cancelled.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Where the model runs when the study builds the source itself (a TorchSharp model or a run's checkpoints).</summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Cpu;

    /// <summary>Called after each batch with (samples done, samples in all).</summary>
    public Action<int, int>? Progress { get; init; }

    /// <summary>
    /// The model input whose [N, T] rows mark each sample's real tokens (1) and padding (0), such as
    /// <c>attention_mask</c> (see <see cref="ActivationCapture.TokenMask"/>): a unit of a sequence site of T tokens is
    /// then judged on the real tokens only (it fires on a sample when it is &gt; 0 on any real token, and its statistics
    /// count only real tokens). Null: every token counts.
    /// </summary>
    public string? TokenMask { get; init; }

    /// <summary>The firing rule, as written into every result.</summary>
    public const string FiringRule =
        "a unit fires on a sample when its output is > 0; a conv channel fires when any of its positions is > 0; dead = never fires on the data; dying = fires on fewer than the dying threshold of samples";

    /// <summary>Runs the study on one TorchSharp model (its current weights).</summary>
    public DeadUnitStudyResult Run(nn.Module<Tensor, Tensor> model, IDataset data)
    {
        using var source = new ModuleSource(model) { Device = Device };
        return Run(source, data, explain: true);
    }

    /// <summary>Runs the study on any activation source (a TorchSharp model, an ONNX model, precomputed activations).</summary>
    public DeadUnitStudyResult Run(IActivationSource source, IDataset data) => Run(source, data, explain: true);

    /// <summary>
    /// Runs the study on every checkpoint of <paramref name="run"/> (same samples each time) and follows each unit over
    /// training. Only firing rates are kept per checkpoint (O(units x checkpoints)); the last checkpoint gets the full study.
    /// </summary>
    public DeadUnitTimelineResult RunCheckpoints(RunFolder run, IDataset data, Action<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(data);
        var cps = run.Checkpoints.OrderBy(c => c.Epoch).ToList();
        if (cps.Count == 0) throw new ProbeException($"Run '{run.Directory}' has no checkpoints.");
        var epochs = cps.Select(c => c.Epoch).ToArray();
        string[]? names = null;
        string[] types = [];
        var rates = new List<float[]>[0];
        var dead = new List<double>[0];
        var dying = new List<double>[0];
        DeadUnitStudyResult? final = null;
        for (int c = 0; c < cps.Count; c++)
        {
            progress?.Invoke(epochs[c]);
            bool last = c == cps.Count - 1;
            DeadUnitStudyResult r;
            using (var source = new ModuleSource(run.BuildModel(epochs[c]), ownsModel: true) { Device = Device })
                r = Run(source, data, explain: last);
            if (names == null)
            {
                names = r.Layers.Select(l => l.Layer).ToArray();
                types = r.Layers.Select(l => l.ModuleType).ToArray();
                rates = names.Select(_ => new List<float[]>()).ToArray();
                dead = names.Select(_ => new List<double>()).ToArray();
                dying = names.Select(_ => new List<double>()).ToArray();
            }
            else if (!names.SequenceEqual(r.Layers.Select(l => l.Layer)))
                throw new ProbeException($"Checkpoint at epoch {epochs[c]} has layers {string.Join(", ", r.Layers.Select(l => l.Layer))}; epoch {epochs[0]} had {string.Join(", ", names)}.");
            for (int i = 0; i < names.Length; i++)
            {
                var s = r.Layers[i].Stats;
                rates[i].Add(s.FiringRates);
                dead[i].Add(s.DeadFraction);
                dying[i].Add(s.DyingFraction);
            }
            if (last) final = r;
        }
        var layers = names!.Select((n, i) => new DeadLayerTimeline(n, types[i], rates[i][0].Length, [.. rates[i]], [.. dead[i]], [.. dying[i]],
            DeadUnitDiagnosis.Timeline(epochs, rates[i]))).ToArray();
        return new DeadUnitTimelineResult(epochs, layers, final!);
    }

    private DeadUnitStudyResult Run(IActivationSource source, IDataset data, bool explain) => Finish(Collect(source, data, explain));

    /// <summary>
    /// The streaming half of the study: runs <paramref name="data"/> through <paramref name="source"/> and returns every
    /// counter it needs (<see cref="DeadUnitPartial"/>), without judging units. Partials of disjoint slices of a data set
    /// (shards, one per process) combine with <see cref="DeadUnitPartial.Merge"/>; <see cref="Finish"/> turns the
    /// combination into exactly the result one process over all samples gives.
    /// </summary>
    public DeadUnitPartial Collect(IActivationSource source, IDataset data, bool explain = true)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(data);
        if (BatchSize <= 0) throw new ProbeException($"Batch size must be positive, got {BatchSize}.");
        if (data.Count == 0) throw new ProbeException($"Data set '{data.Name}' has no samples to analyse.");
        _ = new DeadUnitAnalyzer(DyingThreshold, Epsilon, SaturationFraction).Start(); // validates the settings

        source.Bind(data);
        var sites = source.Sites;
        var selected = (Layers ?? DefaultLayers(sites)).Resolve(sites);

        // Every selected site's per-sample output shape: as the source tells it when it knows every one (a TorchSharp
        // model's trace, a graph with static shapes, stored activations), else from a one-sample pass.
        var layers = ActivationCapture.Shapes(source, data, selected);
        var info = layers.ToDictionary(l => l.Name, StringComparer.Ordinal);

        var plans = new List<LayerPlan>();
        var leftOut = new List<string>();
        foreach (var name in selected)
        {
            if (!info.TryGetValue(name, out var li)) throw new ProbeException($"Layer '{name}' did not run on a sample of '{data.Name}'.");
            bool tokens = SiteLayout.TokensLast(li.LayoutOrType, li.OutputShape);
            var (units, positions) = UnitsAndPositions(li, tokens);
            var kind = UnitActivations.FromModuleType(li.ActivationType ?? li.ModuleType);
            var plan = new LayerPlan(name, li.ModuleType, li.OutputShape, units, positions, tokens,
                new UnitStatsAccumulator(units, kind, Epsilon))
            { Reduced = sites.FirstOrDefault(s => s.Name == name)?.Reduced, LayoutType = li.LayoutType, ActivationType = li.ActivationType };
            string? unknowable = plan.Reduced is { How: not (MapReduction.Max or MapReduction.First or MapReduction.Last) } && kind == UnitActivation.Rectified
                    && !NeverNegative(li.ActivationType ?? li.ModuleType)
                ? "and its activation can be negative: a unit whose mean is <= 0 may still have fired (a value > 0 beside negative ones), so which units are dead is unknown. " +
                  "Capture it with --reduce max (a unit fires when its maximum is > 0) or --reduce flatten"
                : plan.Reduced is { How: not (MapReduction.First or MapReduction.Last) } && kind is UnitActivation.Sigmoid or UnitActivation.Tanh
                ? "and its units are judged for saturation, which needs every value: a unit is saturated on a sample when all its values sit within 1% of an end of the activation's range, " +
                  "and neither a mean nor a maximum near an end says that they do. Capture it with --reduce flatten"
                : null;
            if (unknowable != null)
            {
                var r = plan.Reduced!;
                string why = $"Layer '{name}' ({li.ActivationType ?? li.ModuleType}) is stored as {(r.How is { } how ? $"one {how.ToString().ToLowerInvariant()} per unit and sample" : "reduced values whose reduction layers.json does not record")}, " + unknowable;
                // A layer the user chose is refused; one the default selection took is left out, and the result says why.
                if (Layers != null) throw new ProbeException(why + ", or leave it out with --layers.");
                leftOut.Add(why + ".");
                continue;
            }
            if (explain && kind is UnitActivation.Rectified or UnitActivation.Auto)
            {
                switch (source.Origin(name))
                {
                    case SiteOrigin.Affine a when a.Bias.Length != units:
                        plan.Note = $"'{a.Layer}' ({a.LayerType}) has {a.Bias.Length} outputs but this layer has {units} units, so it is not that layer's direct activation";
                        break;
                    case SiteOrigin.Affine a:
                        plan.Origin = new AffineSummary(a.Layer, a.LayerType, a.Folded, a.InputSite, DeadUnitDiagnosis.RowNorms(a.Weight, a.InFeatures), a.Bias.Select(v => (double)v).ToArray())
                            { Window = a.Window, InFeatures = a.InFeatures };
                        break;
                    case SiteOrigin.Unknown u:
                        plan.Note = u.Reason;
                        // No cause, but its input is read all the same: a dead unit's largest pre-activation says how
                        // far from firing it stayed.
                        plan.ReadsPreActivation = source.RecordsInputs;
                        break;
                }
            }
            plans.Add(plan);
        }
        if (plans.Count == 0 && leftOut.Count > 0) throw new ProbeException(string.Join(" ", leftOut));
        var inputSites = plans.Where(p => p.Origin != null).Select(p => p.Origin!.InputSite).Distinct().ToList();
        // A TorchSharp model's readers run in its hooks, one at a time while libtorch's OpenMP threads wait: a large
        // batch's halves go to those threads. Other sources call their readers after the forward pass, on all cores.
        var readers = new StudyReaders(plans, inputSites,
            source is ModuleSource ? UnitStatsAccumulator.HalvesOn.TorchThreads : UnitStatsAccumulator.HalvesOn.OneThread);
        // Every layer is read where the model left it (at hook time for TorchSharp models: nothing is copied), and
        // nothing is recorded: a layer's output feeds its statistics; an explained layer's input (pre-activation) its
        // per-unit maxima, of only the units that have not fired yet when the activation passes positive inputs
        // unchanged (ReLU: a unit that fired has its largest pre-activation in its output); an affine layer's input
        // the largest input norm, which bounds every pre-activation.
        var outputReaders = plans.ToDictionary(p => p.Name, readers.Output, StringComparer.Ordinal);
        foreach (var s in inputSites) outputReaders.TryAdd(s, SiteReductions.Skip);
        var inputReaders = plans.ToDictionary(p => p.Name, readers.PreActivation, StringComparer.Ordinal);
        foreach (var s in inputSites) inputReaders[s] = readers.AffineInput(s, inputReaders.GetValueOrDefault(s));
        bool readsInputs = inputSites.Count > 0 || plans.Any(p => p.ReadsPreActivation);
        var capture = new ActivationCapture(new LayerSelector(string.Join(",", selected.Concat(inputSites).Distinct())),
            MapReduction.Flatten, IncludeInputs: readsInputs, BatchSize)
        {
            Cancellation = Cancellation, Progress = Progress, TokenMask = TokenMask,
            PerSite = SiteReductions.None with { OutputReaders = outputReaders, InputReaders = readsInputs ? inputReaders : new Dictionary<string, SiteReader>() },
        };
        var summary = capture.Run(source, data);
        foreach (var (layer, bad) in summary.NonFiniteOutputs)
            if (bad > 0) throw Diverged(layer, bad, "output");
        foreach (var (layer, bad) in summary.NonFiniteInputs)
            if (bad > 0) throw Diverged(layer, bad, "input");

        return new DeadUnitPartial(FormatName, data.Count, explain, DyingThreshold, Epsilon, SaturationFraction,
            plans.Select(p => new DeadLayerPartial(p.Name, p.Type, p.Shape, p.Units, p.Positions, p.Acc.State(), p.PreMax, p.Origin, p.Note) { Reduced = p.Reduced, LayoutType = p.LayoutType, ActivationType = p.ActivationType }).ToArray(),
            new SortedDictionary<string, double>(readers.MaxInputNormSq(), StringComparer.Ordinal))
        {
            LeftOut = [.. leftOut],
            // The study's mask, or the one a source that stores every token applies to its reads (a flattened capture folder's).
            TokenMask = TokenMask ?? plans.Select(p => sites.FirstOrDefault(s => s.Name == p.Name)?.TokenMask).FirstOrDefault(m => m != null),
        };
    }

    /// <summary>The type a source gives a layer it knows nothing of (a .npy file that no layers.json describes).</summary>
    const string UnknownType = "?";

    /// <summary>The format name written in every <see cref="DeadUnitPartial"/>.</summary>
    public const string FormatName = "probe-dead-partial/2";

    /// <summary>Judges every unit from the counters of <see cref="Collect"/> (or of merged shards) with the partial's own settings.</summary>
    public static DeadUnitStudyResult Finish(DeadUnitPartial partial)
    {
        ArgumentNullException.ThrowIfNull(partial);
        if (partial.Format != FormatName) throw new ProbeException($"Not a dead-unit partial result (format '{partial.Format}', expected '{FormatName}').");
        var layers = new List<DeadLayerResult>();
        foreach (var p in partial.Layers)
        {
            var stats = UnitStatsAccumulator.FromState(p.Stats).Result(p.Name, partial.DyingThreshold, p.ActivationType ?? p.Type, partial.SaturationFraction);
            if (p.Reduced != null)
                stats = stats with
                {
                    Sparsity = double.NaN, EpsilonSparsity = double.NaN, Mean = double.NaN, Std = double.NaN,
                    Min = float.NaN, Max = float.NaN, MaxRowNorm = double.NaN,
                };
            float[]? maxPre = null;
            DeadUnitCause[] causes = [];
            string? note = p.Note;
            if (p.Origin is { } o)
            {
                maxPre = MaxPreActivations(p, stats);
                if (stats.DeadUnits.Length > 0)
                    causes = FoldedNote(DeadUnitDiagnosis.Explain(stats.DeadUnits, o.WeightNorms, o.Bias, maxPre, Math.Sqrt(partial.MaxInputNormSq[o.InputSite])), o);
            }
            else if (stats.Activation != UnitActivation.Rectified || !partial.Explain) note = null;
            // No cause, but the largest pre-activation of each unit: how far from firing a dead one stayed.
            else if (p.PreActivationMax != null) maxPre = MaxPreActivations(p, stats);
            layers.Add(new DeadLayerResult(p.Name, p.Type, p.Shape, p.Positions, stats, maxPre, p.Origin?.Layer, p.Origin?.LayerType, causes, note)
            {
                FoldedNorm = p.Origin?.Folded, Reduced = p.Reduced, ReductionNote = p.Reduced == null ? null : ReductionNote(p.LayoutType ?? p.Type, p.Reduced),
                ActivationNote = p.Type == UnknownType && p.ActivationType == null && stats.Activation == UnitActivation.Linear
                    ? "its type is not known and it has values < 0, so it was judged as a linear layer: a unit is dead only when it is exactly 0 on every sample. "
                      + "If it is an activation that can be negative (LeakyReLU, GELU, ELU, SiLU), give its type in layers.json (\"type\": \"LeakyReLU\") to judge it as one: dead = never > 0"
                    : null,
            });
        }
        string rule = partial.TokenMask is { } mask
            ? FiringRule + $"; a sequence's unit fires when it is > 0 on any real token (those input '{mask}' marks 1), and padding tokens count nowhere"
            : FiringRule;
        return new DeadUnitStudyResult(partial.Samples, partial.DyingThreshold, rule, [.. layers]) { LeftOut = partial.LeftOut, TokenMask = partial.TokenMask };
    }

    /// <summary>
    /// With a BatchNorm folded into the affine layer, the weights and bias a cause quotes are not the layer's own: each
    /// explanation says so, and a unit whose folded weights are zero may have weights of its own that are not (the
    /// BatchNorm's scale γ/√(σ² + ε) is 0).
    /// </summary>
    static DeadUnitCause[] FoldedNote(DeadUnitCause[] causes, AffineSummary o) => o.Folded is not { } bn ? causes
        : causes.Select(c => c with
        {
            Explanation = c.Explanation + $" (weights and bias of '{o.Layer}' with the BatchNorm '{bn}' folded in" + (c.Reason == DeadUnitReason.ZeroIncomingWeights
                ? $": '{o.Layer}''s weights times gamma / sqrt(var + eps), zero when either is)" : ")"),
        }).ToArray();

    /// <summary>
    /// What a layer stored reduced was judged on, and why its layer-wide figures are missing, e.g. "the folder holds one
    /// mean per channel and sample (probe capture --reduce mean over the 32 x 32 positions of its [8, 32, 32] output),
    /// not the activations: ...".
    /// </summary>
    internal static string ReductionNote(string type, StoredReduction r)
    {
        bool tokens = SiteLayout.TokensLast(type, r.From);
        string unit = tokens ? "unit" : "channel", shape = $"[{string.Join(", ", r.From)}]";
        string over = tokens ? r.TokenMask is { } mask ? $"the real tokens among the {r.From[0]} (those input '{mask}' marks 1)" : $"the {r.From[0]} tokens"
            : $"the {string.Join(" x ", r.From[1..])} positions";
        var (what, values, judged) = r.How switch
        {
            MapReduction.Mean => ($"one mean per {unit} and sample (probe capture --reduce mean over {over} of its {shape} output)", "means",
                $"a {unit} fires on a sample when its mean is > 0, the same as any value > 0 for an activation that is never negative, such as ReLU"),
            MapReduction.Max => ($"one maximum per {unit} and sample (probe capture --reduce max over {over} of its {shape} output)", "maxima",
                $"a {unit} fires on a sample when its maximum is > 0, i.e. when any of its values is"),
            MapReduction.First or MapReduction.Last => ($"one value per {unit} and sample (probe capture --reduce {r.How.ToString()!.ToLowerInvariant()}: one {(r.TokenMask is { } m ? $"real token (input '{m}' marks them)" : "token")} of its {shape} output)", "values of that token",
                $"a {unit} fires on a sample when that token's value is > 0; the other tokens are not seen"),
            _ => ($"one value per {unit} and sample (reduced over {over} of its {shape} output, in a way layers.json does not record)", "reduced values",
                $"a {unit} fires on a sample when its stored value is > 0"),
        };
        return $"the folder holds {what}, not the activations: {judged}; sparsity, mean, std, min and max are not computed "
            + $"(they would describe the {values}, not the activations); capture with --reduce flatten for them";
    }

    // Each unit's largest pre-activation: read from the inputs, except for a unit that fired under an activation that
    // passes positive inputs unchanged, whose largest input is its largest output.
    private static float[] MaxPreActivations(DeadLayerPartial p, LayerUnitStats stats)
    {
        var read = p.PreActivationMax ?? throw new ProbeException($"Layer '{p.Name}' has no pre-activations to explain its units with.");
        if (!PassesPositiveInputs(p.Type)) return (float[])read.Clone();
        return read.Select((v, u) => stats.FiringRates[u] > 0 ? Math.Max(v, stats.UnitMax[u]) : v).ToArray();
    }

    /// <summary>
    /// True for activations whose values are never negative (ReLU, ReLU6, Softplus, sigmoids): a mean of a unit's values
    /// is &gt; 0 exactly when one of them is. Not for GELU, SiLU, Mish, Hardswish, ELU, LeakyReLU and the like.
    /// </summary>
    internal static bool NeverNegative(string type) =>
        type.ToLowerInvariant() is "relu" or "relu6" or "softplus" or "sigmoid" or "hardsigmoid";

    /// <summary>
    /// True for ReLU (TorchSharp's <c>ReLU</c>, ONNX's <c>Relu</c>): output = max(input, 0), so an output &gt; 0 is the
    /// input itself and a unit that fired has its largest pre-activation in its output. Not for activations with a
    /// parameter that could make a negative input's output positive (LeakyReLU, PReLU and ELU with a negative slope)
    /// nor for ReLU6, GELU, SiLU or Softplus: their units' pre-activations are read in full.
    /// </summary>
    internal static bool PassesPositiveInputs(string moduleType) => string.Equals(moduleType, "relu", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The default selection: every leaf module whose type is an activation (ReLU-like, sigmoid, tanh), or that computes
    /// one its type does not name (<see cref="SiteInfo.ActivationType"/>: the last Mul of an exported GELU); all leaves
    /// when there is none. An op inside a chosen module's scope (an exported SiLU's <c>silu.sigmoid</c>, a GELU's
    /// <c>gelu.mul</c> before its halving) is left to the module.
    /// </summary>
    public static LayerSelector DefaultLayers(IReadOnlyList<SiteInfo> sites)
    {
        ArgumentNullException.ThrowIfNull(sites);
        var names = sites.Where(s => s.Leaf && UnitActivations.FromModuleType(s.ActivationType ?? s.OpType) is UnitActivation.Rectified or UnitActivation.Sigmoid or UnitActivation.Tanh)
            .Select(s => s.BaseName).Distinct().ToList();
        names.RemoveAll(n => names.Any(m => n.StartsWith(m + ".", StringComparison.Ordinal)));
        return names.Count == 0 ? LayerSelector.All : new LayerSelector(string.Join(",", names));
    }

    // Units = the first per-sample dimension (channels for maps); positions = the product of the rest.
    private static (int Units, int Positions) UnitsAndPositions(LayerInfo l, bool tokensLast)
    {
        if (l.OutputShape.Length <= 1) return (Math.Max(1, l.Features), 1);
        if (tokensLast) return (l.OutputShape[1], l.OutputShape[0]);
        int units = l.OutputShape[0];
        long positions = 1;
        for (int i = 1; i < l.OutputShape.Length; i++) positions *= l.OutputShape[i];
        if (units <= 0 || positions <= 0 || positions > int.MaxValue) throw new ProbeException($"Layer '{l.Name}' has an unsupported output shape [{string.Join(", ", l.OutputShape)}].");
        return (units, (int)positions);
    }

    private sealed class LayerPlan(string name, string type, int[] shape, int units, int positions, bool tokensLast, UnitStatsAccumulator acc)
    {
        public bool TokensLast { get; } = tokensLast;
        public AffineSummary? Origin;
        public string Name { get; } = name;
        public string Type { get; } = type;
        public int[] Shape { get; } = shape;
        public int Units { get; } = units;
        public int Positions { get; } = positions;
        public UnitStatsAccumulator Acc { get; } = acc;
        /// <summary>Each unit's largest pre-activation read so far (explained layers only).</summary>
        public float[]? PreMax;
        public string? Note;
        /// <summary>Whether the layer's input (its pre-activation) is read though nothing explains its units.</summary>
        public bool ReadsPreActivation;
        public StoredReduction? Reduced;
        public string? LayoutType;
        public string? ActivationType;
        public float[] Scratch = [];
    }

    private static ProbeException Diverged(string layer, long bad, string what) =>
        new($"Layer '{layer}' produced {bad} non-finite {what} value(s) (NaN or Inf): the model has diverged, so its units cannot be judged.");

    // The study's site readers: each feeds only its own layer's state (O(units)), so readers of different sites may
    // run at the same time.
    private sealed class StudyReaders
    {
        private readonly Dictionary<string, double[]> _norms = new(StringComparer.Ordinal);
        private readonly Dictionary<string, LayerPlan[]> _explained = new(StringComparer.Ordinal);

        private readonly UnitStatsAccumulator.HalvesOn _halves;

        public StudyReaders(List<LayerPlan> plans, List<string> affineInputs, UnitStatsAccumulator.HalvesOn halves)
        {
            _halves = halves;
            foreach (var p in plans)
                if (p.Origin != null || p.ReadsPreActivation)
                {
                    p.PreMax = new float[p.Units];
                    Array.Fill(p.PreMax, float.NegativeInfinity);
                }
            foreach (var s in affineInputs)
            {
                _norms[s] = [0];
                _explained[s] = plans.Where(p => p.Origin?.InputSite == s).ToArray();
            }
        }

        /// <summary>The largest squared norm of each affine layer's input rows read so far (every row, when a unit it explains is dead).</summary>
        public Dictionary<string, double> MaxInputNormSq() => _norms.ToDictionary(kv => kv.Key, kv => kv.Value[0], StringComparer.Ordinal);

        /// <summary>The reader of a layer's whole output rows: its statistics.</summary>
        public SiteReader Output(LayerPlan p) => (rows, count, cols) =>
        {
            var on = _halves;
            if (p.Positions == 1 || !p.TokensLast) return p.Acc.AddRows(rows, count, p.Positions, on);
            // Sequence outputs arrive token-major (T x D per row; under a token mask one sample at a time, holding only
            // its real tokens); the accumulator wants unit-major (D x T), as maps are.
            if (p.Scratch.Length < rows.Length) p.Scratch = new float[rows.Length];
            int d = p.Units, t = cols / d;
            for (int r = 0; r < count; r++)
            {
                int o = r * cols;
                for (int i = 0; i < t; i++)
                    for (int j = 0; j < d; j++)
                        p.Scratch[o + j * t + i] = rows[o + i * d + j];
            }
            return p.Acc.AddRows(p.Scratch.AsSpan(0, rows.Length), count, t, on);
        };

        /// <summary>
        /// The reader of an explained layer's input: each unit's largest value; when the activation passes positive
        /// inputs unchanged, only for the units that have not fired in earlier batches (after the first batches,
        /// usually only the dead ones). Skips layers that nothing explains.
        /// </summary>
        public SiteReader PreActivation(LayerPlan p)
        {
            if (p.PreMax == null) return SiteReductions.Skip;
            bool onlySilent = PassesPositiveInputs(p.Type);
            int[] all = Enumerable.Range(0, p.Units).ToArray();
            return (rows, count, cols) =>
            {
                var units = onlySilent ? p.Acc.NeverPositive() : all;
                if (units.Length > 0) UnitMaxima(rows, count, cols, p, units);
                return 0;
            };
        }

        /// <summary>
        /// The reader of an affine layer's input rows: their largest squared norm (then <paramref name="also"/>, if any),
        /// while a layer it explains has a unit that has not fired yet. The norm only explains dead units, and a dead
        /// unit never fired, so when a layer has one every batch was read; once every unit of the layers it explains
        /// has fired, none of them can end dead and the rows are no longer read.
        /// </summary>
        public SiteReader AffineInput(string site, SiteReader? also)
        {
            var best = _norms[site];
            var explained = _explained[site];
            // A convolution's units read windows of its input: the largest window norm is the bound (when every unit
            // explained through this input reads the same window and the rows have the shape the window expects).
            var window = explained[0].Origin!.Window is { } w && explained.All(p => p.Origin!.Window is { } o
                && o.InputShape.SequenceEqual(w.InputShape) && o.Kernel.SequenceEqual(w.Kernel) && o.Dilation.SequenceEqual(w.Dilation)) ? w : null;
            // A Linear over tokens (or over a map's last axis) reads one vector of InFeatures values at a time.
            var first = explained[0].Origin!;
            int vector = window == null && first.InFeatures > 0 && !first.LayerType.StartsWith("Conv", StringComparison.Ordinal)
                && explained.All(p => p.Origin!.InFeatures == first.InFeatures && p.Origin!.Window == null) ? first.InFeatures : 0;
            return (rows, count, cols) =>
            {
                if (explained.Any(p => p.Acc.HasSilentUnit))
                {
                    bool torchThreads = _halves == UnitStatsAccumulator.HalvesOn.TorchThreads;
                    double norm = window != null && window.Fits(cols) ? MaxWindowSquaredNorm(rows, count, window, torchThreads)
                        : vector > 0 && cols % vector == 0 ? MaxRowSquaredNorm(rows, count * (cols / vector), vector, torchThreads)
                        : MaxRowSquaredNorm(rows, count, cols, torchThreads);
                    if (!double.IsFinite(norm)) return Matrix.CountNonFinite(rows);
                    best[0] = Math.Max(best[0], norm);
                }
                return also?.Invoke(rows, count, cols) ?? 0;
            };
        }

        // Folds each listed unit's largest value over its positions (channel-major maps, token-major sequences) into
        // p.PreMax; the scalar rule of MapReduction.Max (v replaces the best only when v > best).
        private static void UnitMaxima(ReadOnlySpan<float> rows, int count, int cols, LayerPlan p, int[] units)
        {
            // A sequence's tokens: T, or under a token mask the sample's real tokens.
            int d = p.Units, positions = p.TokensLast ? cols / d : p.Positions;
            var max = p.PreMax!;
            if (positions == 1)
            {
                // Dense layers: one value per unit and row, so each listed unit's column is read down the rows.
                foreach (int u in units)
                {
                    float m = max[u];
                    for (int r = 0, at = u; r < count; r++, at += cols) { float v = rows[at]; m = v > m ? v : m; }
                    max[u] = m;
                }
                return;
            }
            for (int r = 0; r < count; r++)
            {
                var row = rows.Slice(r * cols, cols);
                foreach (int u in units)
                {
                    float m = max[u];
                    if (positions == 1 || !p.TokensLast) m = Math.Max(m, UnitStatsAccumulator.MaxOf(row.Slice(u * positions, positions)));
                    else
                        for (int q = 0; q < positions; q++) { float v = row[q * d + u]; m = v > m ? v : m; }
                    max[u] = m;
                }
            }
        }

        /// <summary>A squared norm's maximum over rows <c>from</c>..<c>to</c> of the rows given (not finite when a value is not).</summary>
        private delegate double MaxOverRows(ReadOnlySpan<float> rows, int from, int to);

        /// <summary>
        /// <paramref name="max"/> over all <paramref name="count"/> rows; with <paramref name="torchThreads"/>, many rows
        /// are read in two halves on libtorch's idle OpenMP threads (a maximum: the same whichever way it ran).
        /// </summary>
        private static double InHalves(ReadOnlySpan<float> rows, int count, bool torchThreads, MaxOverRows max)
        {
            if (!torchThreads || rows.Length < UnitStatsAccumulator.ParallelThreshold || count < 2) return max(rows, 0, count);
            var best = new double[2];
            unsafe
            {
                fixed (float* p = rows)
                {
                    float* at = p; int len = rows.Length, half = count / 2;
                    Native.TorchThreads.Run(2, i => best[i] = max(new ReadOnlySpan<float>(at, len), i == 0 ? 0 : half, i == 0 ? half : count));
                }
            }
            return double.IsFinite(best[0]) && double.IsFinite(best[1]) ? Math.Max(best[0], best[1]) : double.NaN;
        }

        /// <summary>The largest squared L2 norm of a row of <paramref name="cols"/> values (in double), in halves (see <see cref="InHalves"/>).</summary>
        private static double MaxRowSquaredNorm(ReadOnlySpan<float> rows, int count, int cols, bool torchThreads) =>
            InHalves(rows, count, torchThreads, (r, from, to) => MaxRowSquaredNorm(r, from, to, cols));

        /// <summary><see cref="DeadUnitDiagnosis.MaxWindowSquaredNorm"/>, in halves (see <see cref="InHalves"/>).</summary>
        private static double MaxWindowSquaredNorm(ReadOnlySpan<float> rows, int count, ConvWindow window, bool torchThreads) =>
            InHalves(rows, count, torchThreads, (r, from, to) => DeadUnitDiagnosis.MaxWindowSquaredNorm(r, from, to, window));

        private static double MaxRowSquaredNorm(ReadOnlySpan<float> rows, int from, int to, int cols)
        {
            double best = 0;
            for (int r = from; r < to; r++)
            {
                double sq = UnitStatsAccumulator.SquaredNorm(rows.Slice(r * cols, cols));
                if (!double.IsFinite(sq)) return sq;
                if (sq > best) best = sq;
            }
            return best;
        }
    }
}

/// <summary>
/// What explains a layer's dead units, as plain data: the affine layer feeding it (<see cref="Layer"/>, with any BatchNorm
/// <see cref="Folded"/> in), the L2 norm of each unit's incoming weights and its bias, and the site whose input bounds
/// every pre-activation (<see cref="InputSite"/>).
/// </summary>
public sealed record AffineSummary(string Layer, string LayerType, string? Folded, string InputSite, double[] WeightNorms, double[] Bias)
{
    /// <summary>For a convolution, the window each unit reads: the bound is then the largest window norm (see <see cref="SiteOrigin.Affine.Window"/>).</summary>
    public ConvWindow? Window { get; init; }

    /// <summary>
    /// The number of inputs each unit weighs (0: not recorded). A Linear (Gemm, MatMul) applied to a sequence or a map
    /// reads its input's last axis, one vector of this many values at a time, so the largest such vector bounds its
    /// pre-activations, not the whole row of every token.
    /// </summary>
    public int InFeatures { get; init; }
}

/// <summary>One layer's counters in a <see cref="DeadUnitPartial"/>.</summary>
public sealed record DeadLayerPartial(string Name, string Type, int[] Shape, int Units, int Positions, UnitStatsState Stats,
    float[]? PreActivationMax, AffineSummary? Origin, string? Note)
{
    /// <summary>How the layer's values were reduced before the study read them, if they were (see <see cref="DeadLayerResult.Reduced"/>).</summary>
    public StoredReduction? Reduced { get; init; }

    /// <summary>The op type that decided the layer's layout when it is not <see cref="Type"/> (see <see cref="LayerInfo.LayoutType"/>).</summary>
    public string? LayoutType { get; init; }

    /// <summary>The activation the layer computes when <see cref="Type"/> does not say (see <see cref="LayerInfo.ActivationType"/>).</summary>
    public string? ActivationType { get; init; }
}

/// <summary>
/// The counters of a dead-unit study over some samples (all, or one shard's slice): additive, so the partials of disjoint
/// slices merge into exactly what one pass over all samples gives (counts identical; mean and std to double rounding).
/// <see cref="MaxInputNormSq"/> holds, per affine layer's input site, the largest squared row norm over the rows read:
/// those rows stop being read once every unit of the layers it explains has fired, so it covers every sample exactly
/// when it is used (a dead unit never fired, in any shard).
/// </summary>
public sealed record DeadUnitPartial(string Format, int Samples, bool Explain, double DyingThreshold, double Epsilon, double SaturationFraction,
    DeadLayerPartial[] Layers, SortedDictionary<string, double> MaxInputNormSq)
{
    /// <summary>Why each layer the default selection took could not be judged (see <see cref="DeadUnitStudyResult.LeftOut"/>).</summary>
    public string[] LeftOut { get; init; } = [];

    /// <summary>The token mask the counters were taken under (see <see cref="DeadUnitStudyResult.TokenMask"/>).</summary>
    public string? TokenMask { get; init; }

    /// <summary>Combines partials of disjoint slices of one data set, taken with the same settings, model and layers.</summary>
    static bool SameOrigin(AffineSummary? a, AffineSummary? b) => a is null || b is null ? a is null && b is null
        : a.Layer == b.Layer && a.LayerType == b.LayerType && a.Folded == b.Folded && a.InputSite == b.InputSite
          && a.WeightNorms.SequenceEqual(b.WeightNorms) && a.Bias.SequenceEqual(b.Bias);

    public static DeadUnitPartial Merge(IReadOnlyList<DeadUnitPartial> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0) throw new ProbeException("Nothing to merge.");
        var first = parts[0];
        foreach (var p in parts.Skip(1))
        {
            if (p.Format != first.Format || p.Explain != first.Explain || p.DyingThreshold != first.DyingThreshold || p.Epsilon != first.Epsilon || p.SaturationFraction != first.SaturationFraction
                || p.TokenMask != first.TokenMask)
                throw new ProbeException("The partial results were made with different settings (dying threshold, epsilon, saturation, token mask); rerun the shards with the same options.");
            if (!p.Layers.Select(l => (l.Name, l.Units)).SequenceEqual(first.Layers.Select(l => (l.Name, l.Units))))
                throw new ProbeException($"The partial results cover different layers ({string.Join(", ", first.Layers.Select(l => l.Name))} vs {string.Join(", ", p.Layers.Select(l => l.Name))}); rerun the shards with the same model and --layers.");
            // The weights that explain each layer (the same model gives the same norms and biases to the bit).
            for (int i = 0; i < first.Layers.Length; i++)
                if (!SameOrigin(first.Layers[i].Origin, p.Layers[i].Origin) || first.Layers[i].Note != p.Layers[i].Note)
                    throw new ProbeException($"The partial results were made with different weights: layer '{first.Layers[i].Name}' is fed by {(first.Layers[i].Origin is { } o ? $"'{o.Layer}'" : "an unknown layer")}, whose weights differ between the parts; rerun the shards with the same model and weights.");
        }
        var layers = first.Layers.Select((l, i) =>
        {
            var acc = UnitStatsAccumulator.FromState(l.Stats);
            var pre = (float[]?)l.PreActivationMax?.Clone();
            foreach (var p in parts.Skip(1))
            {
                acc.Absorb(p.Layers[i].Stats);
                if (pre == null) continue;
                var other = p.Layers[i].PreActivationMax ?? throw new ProbeException($"Layer '{l.Name}' lacks pre-activations in one part.");
                for (int u = 0; u < pre.Length; u++) pre[u] = Math.Max(pre[u], other[u]);
            }
            return l with { Stats = acc.State(), PreActivationMax = pre };
        }).ToArray();
        var norms = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var p in parts)
            foreach (var (k, v) in p.MaxInputNormSq) norms[k] = Math.Max(norms.GetValueOrDefault(k), v);
        return first with { Samples = parts.Sum(p => p.Samples), Layers = layers, MaxInputNormSq = norms };
    }
}
