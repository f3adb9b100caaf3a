using Probe.Data;

namespace Probe.Capture;

/// <summary>
/// Writes each layer's activations to <c>DIR/&lt;layer&gt;.npy</c> incrementally (float32, C order), batch by batch,
/// <c>DIR/labels.npy</c> when the data has labels, and under a token mask <c>DIR/token_mask.npy</c> (the batches'
/// <see cref="ActivationBatch.TokenMaskRows"/>, see <see cref="TokenMask.FileName"/>). Memory stays at one batch however many samples pass.
/// Layer names are made file-safe (characters other than letters, digits, '.', '_' and '-' become '_').
/// The files are complete only after <see cref="OnEnd"/>: disposed before it (a cancelled or failed capture), the sink
/// deletes the files it was writing, so no well-formed file of fewer rows is left behind.
/// </summary>
public sealed class NpySink : IActivationConsumer, IDisposable
{
    readonly string _dir;
    readonly Dictionary<string, NpyMatrixWriter> _writers = new(StringComparer.Ordinal);
    readonly List<int> _labels = new();
    NpyMatrixWriter? _mask;
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
        if (batch.TokenMaskRows is { } mask)
        {
            if (_mask == null && _writers.Keys.FirstOrDefault(l => FileName(l) == TokenMask.FileName) is string clash)
                throw new ProbeException($"Layer '{clash}' would be written to {TokenMask.FileName}, where a capture with a token mask keeps the mask's rows; leave it out of --layers.");
            (_mask ??= new NpyMatrixWriter(Path.Combine(_dir, TokenMask.FileName), mask.Cols)).Write(mask);
        }
        if (batch.Labels == null) _anyUnlabelled = true;
        else _labels.AddRange(batch.Labels);
    }

    public void OnEnd(IReadOnlyList<LayerInfo> layers)
    {
        _ended = true;
        foreach (var w in _writers.Values) w.Complete();
        _mask?.Complete();
        if (!_anyUnlabelled && _labels.Count > 0) Npy.Write(Path.Combine(_dir, "labels.npy"), _labels.ToArray());
    }

    public void Dispose()
    {
        foreach (var w in _mask is null ? _writers.Values : _writers.Values.Append(_mask))
            if (_ended) w.Dispose();
            else w.Abandon();
    }
}
