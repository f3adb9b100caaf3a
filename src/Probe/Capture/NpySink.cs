using Probe.Data;

namespace Probe.Capture;

/// <summary>
/// Writes each layer's activations to <c>DIR/&lt;layer&gt;.npy</c> incrementally (float32, C order), batch by batch,
/// and <c>DIR/labels.npy</c> when the data has labels. Memory stays at one batch however many samples pass.
/// Layer names are made file-safe (characters other than letters, digits, '.', '_' and '-' become '_').
/// The files are complete only after <see cref="OnEnd"/>: disposed before it (a cancelled or failed capture), the sink
/// deletes the files it was writing, so no well-formed file of fewer rows is left behind.
/// </summary>
public sealed class NpySink : IActivationConsumer, IDisposable
{
    readonly string _dir;
    readonly Dictionary<string, NpyMatrixWriter> _writers = new(StringComparer.Ordinal);
    readonly List<int> _labels = new();
    bool _anyUnlabelled, _ended;

    public NpySink(string directory)
    {
        _dir = directory;
        Directory.CreateDirectory(directory);
    }

    /// <summary>The file a layer's activations go to.</summary>
    public string PathOf(string layer) => Path.Combine(_dir, FileName(layer));

    /// <summary>The file-safe name of a layer's .npy file.</summary>
    public static string FileName(string layer) =>
        new string(layer.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_').ToArray()) + ".npy";

    public void OnBatch(ActivationBatch batch)
    {
        foreach (var (name, m) in batch.Outputs)
        {
            if (!_writers.TryGetValue(name, out var w)) _writers[name] = w = new NpyMatrixWriter(PathOf(name), m.Cols);
            w.Write(m);
        }
        if (batch.Labels == null) _anyUnlabelled = true;
        else _labels.AddRange(batch.Labels);
    }

    public void OnEnd(IReadOnlyList<LayerInfo> layers)
    {
        _ended = true;
        foreach (var w in _writers.Values) w.Complete();
        if (!_anyUnlabelled && _labels.Count > 0) Npy.Write(Path.Combine(_dir, "labels.npy"), _labels.ToArray());
    }

    public void Dispose()
    {
        foreach (var w in _writers.Values)
            if (_ended) w.Dispose();
            else w.Abandon();
    }
}
