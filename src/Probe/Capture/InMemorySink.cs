namespace Probe.Capture;

/// <summary>Collects every batch into one float32 matrix per layer (rows = samples in data order).</summary>
public sealed class InMemorySink(int totalRows) : IActivationConsumer
{
    readonly Dictionary<string, Matrix> _outputs = new(StringComparer.Ordinal);
    readonly Dictionary<string, Matrix> _inputs = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, Matrix> Outputs => _outputs;
    public IReadOnlyDictionary<string, Matrix> Inputs => _inputs;

    public void OnBatch(ActivationBatch batch)
    {
        Append(_outputs, batch.Outputs, batch.Offset);
        Append(_inputs, batch.Inputs, batch.Offset);
    }

    void Append(Dictionary<string, Matrix> into, IReadOnlyDictionary<string, Matrix> from, int offset)
    {
        foreach (var (name, m) in from)
        {
            // Uninitialised: every row is written exactly once, so the copy is the only pass over fresh memory.
            if (!into.TryGetValue(name, out var all)) into[name] = all = new Matrix(totalRows, m.Cols, GC.AllocateUninitializedArray<float>(checked(totalRows * m.Cols)));
            if (all.Cols != m.Cols) throw new ProbeException($"Layer '{name}' changed width between batches ({all.Cols} -> {m.Cols}).");
            float[] src = m.Data, dst = all.Data;
            int n = m.Rows * m.Cols, at = offset * m.Cols, half = n / 2;
            if (n < ModuleRun.CopyHalvesThreshold) src.AsSpan(0, n).CopyTo(dst.AsSpan(at));
            // Writes to memory outside the caches (fresh pages on the first run): two halves on libtorch's idle OpenMP threads.
            else Native.TorchThreads.Run(2, i => (i == 0 ? src.AsSpan(0, half) : src.AsSpan(half, n - half)).CopyTo(dst.AsSpan(at + (i == 0 ? 0 : half))));
        }
    }
}
