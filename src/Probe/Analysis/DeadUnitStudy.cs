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
    /// <summary>Number of dead units per <see cref="DeadUnitReason"/> (reasons with no unit are left out).</summary>
    public Dictionary<string, int> CauseCounts =>
        Causes.GroupBy(c => c.Reason).OrderBy(g => g.Key).ToDictionary(g => g.Key.ToString(), g => g.Count());
}

/// <summary>The dead-unit study of one model on one data set: one <see cref="DeadLayerResult"/> per selected layer, in firing order.</summary>
public sealed record DeadUnitStudyResult(int Samples, double DyingThreshold, string FiringRule, DeadLayerResult[] Layers)
{
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
/// read from that layer's weight and bias (<see cref="DeadUnitDiagnosis.Explain"/>).
/// </summary>
public sealed record DeadUnitStudy(
    LayerSelector? Layers = null,
    double DyingThreshold = 0.01,
    double Epsilon = 0,
    double SaturationFraction = 0.99,
    int BatchSize = 256)
{
    /// <summary>The firing rule, as written into every result.</summary>
    public const string FiringRule =
        "a unit fires on a sample when its output is > 0; a conv channel fires when any of its positions is > 0; dead = never fires on the data; dying = fires on fewer than the dying threshold of samples";

    /// <summary>Runs the study on one model (its current weights).</summary>
    public DeadUnitStudyResult Run(nn.Module<Tensor, Tensor> model, Dataset data) => Run(model, data, explain: true);

    /// <summary>
    /// Runs the study on every checkpoint of <paramref name="run"/> (same samples each time) and follows each unit over
    /// training. Only firing rates are kept per checkpoint (O(units x checkpoints)); the last checkpoint gets the full study.
    /// </summary>
    public DeadUnitTimelineResult RunCheckpoints(RunFolder run, Dataset data, Action<int>? progress = null)
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
            using (var model = run.BuildModel(epochs[c]))
                r = Run(model, data, explain: last);
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

    private DeadUnitStudyResult Run(nn.Module<Tensor, Tensor> model, Dataset data, bool explain)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (BatchSize <= 0) throw new ProbeException($"Batch size must be positive, got {BatchSize}.");
        if (data.Count == 0) throw new ProbeException($"Data set '{data.Name}' has no samples to analyse.");
        _ = new DeadUnitAnalyzer(DyingThreshold, Epsilon, SaturationFraction).Start(); // validates the settings

        var selected = (Layers ?? DefaultLayers(model)).Resolve(model).Select(s => s.Name).ToList();
        var leaves = LayerSelector.All.Resolve(model).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);

        // A one-sample pass learns every module's output shape and the order in which the leaves fire.
        var probe = new ActivationCapture(new LayerSelector(string.Join(",", new[] { "all" }.Concat(selected))), MapReduction.Flatten, false, 1)
            .Run(model, data.Subset([0]));
        var info = probe.Layers.ToDictionary(l => l.Name, StringComparer.Ordinal);
        var leafOrder = probe.Layers.Where(l => leaves.Contains(l.Name)).OrderBy(l => l.Order).ToList();

        var plans = new List<LayerPlan>();
        foreach (var name in selected)
        {
            if (!info.TryGetValue(name, out var li)) throw new ProbeException($"Layer '{name}' did not run on a sample of '{data.Name}'.");
            var (units, positions) = UnitsAndPositions(li);
            var plan = new LayerPlan(name, li.ModuleType, li.OutputShape, units, positions,
                new UnitStatsAccumulator(units, UnitActivations.FromModuleType(li.ModuleType), Epsilon));
            if (explain && UnitActivations.FromModuleType(li.ModuleType) == UnitActivation.Rectified)
            {
                int k = leafOrder.FindIndex(l => l.Name == name);
                var prev = k > 0 ? leafOrder[k - 1] : null;
                plan.Preceding = prev?.Name; plan.PrecedingType = prev?.ModuleType;
                if (prev == null) plan.Note = "no module runs before it, so there is no weight to explain a dead unit";
                else if (!IsLinearOrConv(prev.ModuleType))
                    plan.Note = $"it follows '{prev.Name}' ({prev.ModuleType}), not a Linear or Conv layer, so causes are not computed";
                else if (UnitsAndPositions(prev) != (units, positions))
                    plan.Note = $"its shape differs from that of '{prev.Name}' ({prev.ModuleType}), so it is not that layer's direct activation";
                else plan.ExplainFrom = prev.Name;
            }
            plans.Add(plan);
        }
        var sources = plans.Where(p => p.ExplainFrom != null).Select(p => p.ExplainFrom!).Distinct().ToList();
        var consumer = new StudyConsumer(plans, sources, Epsilon);
        var capture = new ActivationCapture(new LayerSelector(string.Join(",", selected.Concat(sources).Distinct())),
            MapReduction.Flatten, IncludeInputs: sources.Count > 0, BatchSize);
        var summary = capture.Run(model, data, consumer);
        foreach (var (layer, bad) in summary.NonFiniteOutputs)
            if (bad > 0) throw new ProbeException($"Layer '{layer}' produced {bad} non-finite values (NaN or Inf): the model has diverged, so its units cannot be judged.");

        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var layers = new List<DeadLayerResult>();
        foreach (var p in plans)
        {
            var stats = p.Acc.Result(p.Name, DyingThreshold, p.Type, SaturationFraction);
            float[]? maxPre = null;
            DeadUnitCause[] causes = [];
            string? note = p.Note;
            if (p.ExplainFrom != null)
            {
                maxPre = p.Pre!.Result(p.Name + ".input", DyingThreshold, "Linear").UnitMax;
                if (stats.DeadUnits.Length > 0)
                {
                    var (w, b, inFeatures) = WeightAndBias(modules[p.ExplainFrom], p.ExplainFrom, p.Units);
                    causes = DeadUnitDiagnosis.Explain(stats.DeadUnits, w, b, inFeatures, maxPre, Math.Sqrt(consumer.MaxInputNormSq[p.ExplainFrom]));
                }
            }
            else if (stats.Activation != UnitActivation.Rectified || !explain) note = null;
            layers.Add(new DeadLayerResult(p.Name, p.Type, p.Shape, p.Positions, stats, maxPre, p.Preceding, p.PrecedingType, causes, note));
        }
        return new DeadUnitStudyResult(data.Count, DyingThreshold, FiringRule, [.. layers]);
    }

    /// <summary>The default selection: every leaf module whose type is an activation (ReLU-like, sigmoid, tanh); all leaves when there is none.</summary>
    public static LayerSelector DefaultLayers(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var names = LayerSelector.All.Resolve(model)
            .Where(m => UnitActivations.FromModuleType(TypeName(m.Module)) is UnitActivation.Rectified or UnitActivation.Sigmoid or UnitActivation.Tanh)
            .Select(m => m.Name).ToList();
        return names.Count == 0 ? LayerSelector.All : new LayerSelector(string.Join(",", names));
    }

    private static string TypeName(nn.Module m)
    {
        var name = m.GetType().Name;
        int tick = name.IndexOf('`');
        return tick >= 0 ? name[..tick] : name;
    }

    private static bool IsLinearOrConv(string type) =>
        type.Equals("Linear", StringComparison.OrdinalIgnoreCase) || type.StartsWith("Conv", StringComparison.OrdinalIgnoreCase);

    // Units = the first per-sample dimension (channels for maps); positions = the product of the rest.
    private static (int Units, int Positions) UnitsAndPositions(LayerInfo l)
    {
        if (l.OutputShape.Length <= 1) return (Math.Max(1, l.Features), 1);
        int units = l.OutputShape[0];
        long positions = 1;
        for (int i = 1; i < l.OutputShape.Length; i++) positions *= l.OutputShape[i];
        if (units <= 0 || positions <= 0 || positions > int.MaxValue) throw new ProbeException($"Layer '{l.Name}' has an unsupported output shape [{string.Join(", ", l.OutputShape)}].");
        return (units, (int)positions);
    }

    private static (float[] Weight, float[] Bias, int InFeatures) WeightAndBias(nn.Module module, string name, int units)
    {
        var ps = module.named_parameters(recurse: false).ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        if (!ps.TryGetValue("weight", out var w) || w.dim() < 2)
            throw new ProbeException($"Layer '{name}' has no weight matrix to explain its dead units with.");
        if (w.shape[0] != units) throw new ProbeException($"Layer '{name}' has {w.shape[0]} output units but its activation has {units}.");
        using var scope = torch.NewDisposeScope();
        float[] weight = w.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        // A layer without bias (bias=false) adds nothing: its bias is zero.
        float[] bias = ps.TryGetValue("bias", out var b) && b is not null
            ? b.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray()
            : new float[units];
        return (weight, bias, weight.Length / units);
    }

    private sealed class LayerPlan(string name, string type, int[] shape, int units, int positions, UnitStatsAccumulator acc)
    {
        public string Name { get; } = name;
        public string Type { get; } = type;
        public int[] Shape { get; } = shape;
        public int Units { get; } = units;
        public int Positions { get; } = positions;
        public UnitStatsAccumulator Acc { get; } = acc;
        public UnitStatsAccumulator? Pre;
        public string? Preceding, PrecedingType, ExplainFrom, Note;
    }

    // Streams each batch into the per-layer accumulators; keeps only O(units) state per layer.
    private sealed class StudyConsumer : IActivationConsumer
    {
        private readonly List<LayerPlan> _plans;
        private readonly List<string> _sources;
        public Dictionary<string, double> MaxInputNormSq { get; } = new(StringComparer.Ordinal);

        public StudyConsumer(List<LayerPlan> plans, List<string> sources, double epsilon)
        {
            _plans = plans; _sources = sources;
            foreach (var p in plans)
                if (p.ExplainFrom != null) p.Pre = new UnitStatsAccumulator(p.Units, UnitActivation.Linear, epsilon);
            foreach (var s in sources) MaxInputNormSq[s] = 0;
        }

        public void OnBatch(ActivationBatch batch)
        {
            foreach (var p in _plans)
            {
                Add(p.Acc, batch.Outputs[p.Name], p.Positions);
                if (p.Pre != null) Add(p.Pre, batch.Inputs[p.Name], p.Positions);
            }
            foreach (var s in _sources)
            {
                var m = batch.Inputs[s];
                double best = MaxInputNormSq[s];
                for (int r = 0; r < m.Rows; r++)
                {
                    double sq = 0;
                    foreach (var v in m.Row(r)) sq += (double)v * v;
                    if (sq > best) best = sq;
                }
                MaxInputNormSq[s] = best;
            }
        }

        private static void Add(UnitStatsAccumulator acc, Matrix m, int positions)
        {
            if (positions == 1) acc.Add(m);
            else acc.AddSpatial(m, positions);
        }
    }
}
