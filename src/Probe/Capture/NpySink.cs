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

    /// <summary>The file-safe name of a layer's .npy file, before <see cref="FileNames"/> makes it unique in its folder.</summary>
    public static string FileName(string layer) =>
        new string(layer.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_').ToArray()) + ".npy";

    /// <summary>The files a capture folder keeps beside its layers' (which no layer's file may take).</summary>
    public static readonly IReadOnlyList<string> FolderFiles = [LabelsFile, RowsFile, TokenMask.FileName];

    /// <summary>The samples' labels in a capture folder (int32, one per row).</summary>
    public const string LabelsFile = "labels.npy";

    /// <summary>The data rows a capture with a sample cap took (int32, sorted; row k of every layer file is data row rows[k]).</summary>
    public const string RowsFile = "rows.npy";

    /// <summary>
    /// Each layer's file in a capture folder, in the order given: its <see cref="FileName"/>, unless an earlier layer or
    /// one of <see cref="FolderFiles"/> took that name (compared ignoring case, as macOS and Windows file systems do:
    /// "a/b" and "a_b" both make a_b.npy, a layer named "labels" makes labels.npy), then with _2, _3, ... before ".npy".
    /// The same layers in the same order always get the same files; layers.json records them.
    /// </summary>
    public static IReadOnlyDictionary<string, string> FileNames(IEnumerable<string> layers)
    {
        var taken = new HashSet<string>(FolderFiles, StringComparer.OrdinalIgnoreCase);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var layer in layers)
        {
            if (files.ContainsKey(layer)) continue;
            string file = FileName(layer), stem = file[..^".npy".Length];
            for (int k = 2; !taken.Add(file); k++) file = $"{stem}_{k}.npy";
            files[layer] = file;
        }
        return files;
    }

    IReadOnlyDictionary<string, string>? _files;

    /// <summary>The file each layer's activations went to (see <see cref="FileNames"/>), once the first batch has come.</summary>
    public IReadOnlyDictionary<string, string> Files => _files ?? new Dictionary<string, string>();

    /// <summary>It writes the mask's rows to token_mask.npy.</summary>
    public bool KeepsTokenMaskRows => true;

    public void OnBatch(ActivationBatch batch)
    {
        _files ??= FileNames(batch.Outputs.Keys);
        foreach (var (name, m) in batch.Outputs)
        {
            if (!_writers.TryGetValue(name, out var w))
            {
                if (!_files.TryGetValue(name, out var file)) throw new ProbeException($"Layer '{name}' arrived after the first batch, which did not have it; every batch must hold the same layers.");
                _writers[name] = w = new NpyMatrixWriter(Path.Combine(_dir, file), m.Cols);
            }
            w.Write(m);
        }
        if (batch.TokenMaskRows is { } mask)
            (_mask ??= new NpyMatrixWriter(Path.Combine(_dir, TokenMask.FileName), mask.Cols)).Write(mask);
        if (batch.Labels == null) _anyUnlabelled = true;
        else _labels.AddRange(batch.Labels);
    }

    public void OnEnd(IReadOnlyList<LayerInfo> layers)
    {
        _ended = true;
        foreach (var w in _writers.Values) w.Complete();
        _mask?.Complete();
        if (!_anyUnlabelled && _labels.Count > 0) Npy.Write(Path.Combine(_dir, LabelsFile), _labels.ToArray());
    }

    public void Dispose()
    {
        foreach (var w in _mask is null ? _writers.Values : _writers.Values.Append(_mask))
            if (_ended) w.Dispose();
            else w.Abandon();
    }
}
