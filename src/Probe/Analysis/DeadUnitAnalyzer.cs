using Probe.Capture;

namespace Probe.Analysis;

/// <summary>Unit statistics of every analysed layer (outputs), and of layer inputs when they were given.</summary>
public sealed record DeadUnitReport(LayerUnitStats[] Layers, LayerUnitStats[] Inputs)
{
    /// <summary>The output statistics of one layer.</summary>
    public LayerUnitStats Layer(string name) =>
        Layers.FirstOrDefault(l => l.Layer == name) ?? throw new ProbeException($"No statistics for layer '{name}'. Known: {string.Join(", ", Layers.Select(l => l.Layer))}.");

    /// <summary>The input statistics of one layer (for a ReLU: its pre-activations), or null.</summary>
    public LayerUnitStats? Input(string name) => Inputs.FirstOrDefault(l => l.Layer == name);
}

/// <summary>
/// Settings of the unit-statistics / dead-unit analysis. A unit is dead when its firing rate (fraction of samples with
/// a &gt; 0) is 0 over all data, dying when 0 &lt; rate &lt; <see cref="DyingThreshold"/>; sigmoid/tanh units are
/// saturated when within 1% of the range ends (a map's channel or a sequence's unit: at every position) on more than
/// <see cref="SaturationFraction"/> of samples. See
/// <see cref="UnitActivation"/> for how layers whose values may be negative (Linear) are judged.
/// </summary>
public sealed record DeadUnitAnalyzer(
    double DyingThreshold = 0.01,
    double Epsilon = 0,
    double SaturationFraction = 0.99,
    IReadOnlyDictionary<string, UnitActivation>? Activations = null)
{
    /// <summary>One-shot analysis of whole layer matrices (name -> samples x units).</summary>
    public DeadUnitReport Run(IReadOnlyDictionary<string, Matrix> layers)
    {
        var s = Start();
        foreach (var (name, m) in layers) s.Add(name, m);
        return s.Result();
    }

    /// <summary>Starts a streaming analysis; feed it batches (or use it as an <see cref="IActivationConsumer"/>).</summary>
    public DeadUnitSession Start() => new(this);
}

/// <summary>
/// A streaming dead-unit analysis: one <see cref="UnitStatsAccumulator"/> per layer (and per layer input). Memory is
/// O(units); results do not depend on how the data is split into batches.
/// </summary>
public sealed class DeadUnitSession : IActivationConsumer
{
    private readonly DeadUnitAnalyzer _settings;
    private readonly Dictionary<string, UnitStatsAccumulator> _outputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, UnitStatsAccumulator> _inputs = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];
    private readonly Dictionary<string, string> _moduleTypes = new(StringComparer.Ordinal);

    internal DeadUnitSession(DeadUnitAnalyzer settings)
    {
        if (!(settings.DyingThreshold >= 0 && settings.DyingThreshold <= 1)) throw new ProbeException($"DyingThreshold must be in [0, 1], got {settings.DyingThreshold}.");
        if (!(settings.SaturationFraction >= 0 && settings.SaturationFraction <= 1)) throw new ProbeException($"SaturationFraction must be in [0, 1], got {settings.SaturationFraction}.");
        _settings = settings;
    }

    /// <summary>Adds one batch of a layer's outputs and, optionally, of its inputs (rows = the same samples).</summary>
    public void Add(string layer, Matrix outputs, Matrix? inputs = null)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        if (!_outputs.TryGetValue(layer, out var acc))
        {
            var kind = _settings.Activations != null && _settings.Activations.TryGetValue(layer, out var k) ? k : UnitActivation.Auto;
            _outputs[layer] = acc = new UnitStatsAccumulator(outputs.Cols, kind, _settings.Epsilon);
            _order.Add(layer);
        }
        acc.Add(outputs);
        if (inputs != null)
        {
            if (inputs.Rows != outputs.Rows) throw new ProbeException($"Layer '{layer}': {inputs.Rows} input rows but {outputs.Rows} output rows.");
            AddInput(layer, inputs);
        }
    }

    private void AddInput(string layer, Matrix inputs)
    {
        if (!_inputs.TryGetValue(layer, out var acc))
            _inputs[layer] = acc = new UnitStatsAccumulator(inputs.Cols, UnitActivation.Linear, _settings.Epsilon);
        acc.Add(inputs);
    }

    /// <inheritdoc/>
    public void OnBatch(ActivationBatch batch)
    {
        foreach (var (name, m) in batch.Outputs) Add(name, m);
        foreach (var (name, m) in batch.Inputs)
        {
            if (batch.Outputs.TryGetValue(name, out var o) && o.Rows != m.Rows)
                throw new ProbeException($"Layer '{name}': {m.Rows} input rows but {o.Rows} output rows.");
            AddInput(name, m);
        }
    }

    /// <inheritdoc/>
    public void OnEnd(IReadOnlyList<LayerInfo> layers)
    {
        foreach (var l in layers) _moduleTypes[l.Name] = l.ModuleType;
        var rank = layers.ToDictionary(l => l.Name, l => l.Order, StringComparer.Ordinal);
        var sorted = _order.OrderBy(n => rank.TryGetValue(n, out var r) ? r : int.MaxValue).ToList();
        _order.Clear(); _order.AddRange(sorted);
    }

    /// <summary>The statistics of every layer seen so far, in layer order.</summary>
    public DeadUnitReport Result()
    {
        var outs = _order.Select(n => _outputs[n].Result(n, _settings.DyingThreshold, _moduleTypes.GetValueOrDefault(n), _settings.SaturationFraction)).ToArray();
        var ins = _order.Concat(_inputs.Keys.Except(_order)).Where(_inputs.ContainsKey)
            .Select(n => _inputs[n].Result(n, _settings.DyingThreshold, "Linear", _settings.SaturationFraction)).ToArray();
        return new DeadUnitReport(outs, ins);
    }
}
