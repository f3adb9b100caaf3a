namespace Probe.Capture;

/// <summary>Collects every batch into one float32 matrix per layer (rows = samples in data order).</summary>
/// <remarks>
/// When it is a capture's only consumer and the model is a TorchSharp module, the capture's hooks copy each site's rows
/// straight into this sink's arrays (<see cref="Rows"/>), so every value is copied once.
/// </remarks>
public sealed class InMemorySink(int totalRows) : IActivationConsumer
{
    Dictionary<string, Matrix> _outputs = new(StringComparer.Ordinal);
    Dictionary<string, Matrix> _inputs = new(StringComparer.Ordinal);
    readonly Dictionary<(string Site, bool Input), long> _written = new();

    public IReadOnlyDictionary<string, Matrix> Outputs => _outputs;
    public IReadOnlyDictionary<string, Matrix> Inputs => _inputs;

    public void OnBatch(ActivationBatch batch)
    {
        Append(batch.Outputs, input: false, batch.Offset);
        Append(batch.Inputs, input: true, batch.Offset);
    }

    // A batch of 16,384 values or more is written in two halves on libtorch's idle OpenMP threads (memory outside the
    // caches, fresh pages on a first run).
    void Append(IReadOnlyDictionary<string, Matrix> from, bool input, int offset)
    {
        foreach (var (name, m) in from) ModuleRun.CopyAllFinite(m.Data.AsSpan(0, m.Rows * m.Cols), Rows(name, input, offset, m.Rows, m.Cols));
    }

    /// <summary>
    /// The span of a site's result array that holds rows [<paramref name="offset"/>, offset + <paramref name="count"/>),
    /// the array made (uninitialised: every row is written exactly once) on the site's first batch.
    /// </summary>
    internal Span<float> Rows(string site, bool input, int offset, int count, int cols)
    {
        var into = input ? _inputs : _outputs;
        if (!into.TryGetValue(site, out var all)) into[site] = all = new Matrix(totalRows, cols, GC.AllocateUninitializedArray<float>(checked(totalRows * cols)));
        if (all.Cols != cols) throw new ProbeException($"Layer '{site}' changed width between batches ({all.Cols} -> {cols}).");
        if (offset < 0 || count < 0 || offset + count > totalRows) throw new ProbeException($"Rows {offset}..{offset + count} of layer '{site}' lie outside the {totalRows} rows of the capture.");
        _written[(site, input)] = _written.GetValueOrDefault((site, input)) + count;
        return all.Data.AsSpan(offset * cols, count * cols);
    }

    /// <summary>Checks that every layer got all its rows (the arrays are not zeroed: a row never written would hold garbage).</summary>
    public void OnEnd(IReadOnlyList<LayerInfo> layers)
    {
        foreach (var ((site, input), rows) in _written)
            if (rows != totalRows)
                throw new ProbeException($"The in-memory sink was made for {totalRows} rows, but layer '{site}'{(input ? " (its input)" : "")} received {rows}: make it with the number of samples the capture runs on.");
    }

    /// <summary>Puts the layers in <paramref name="sites"/>' order (the order batches list them in), whatever order they were first written in.</summary>
    internal void OrderAs(IReadOnlyList<string> sites)
    {
        Dictionary<string, Matrix> Ordered(Dictionary<string, Matrix> d) =>
            sites.Where(d.ContainsKey).Concat(d.Keys.Where(k => !sites.Contains(k))).ToDictionary(k => k, k => d[k], StringComparer.Ordinal);
        _outputs = Ordered(_outputs);
        _inputs = Ordered(_inputs);
    }
}
