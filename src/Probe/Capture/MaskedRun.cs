namespace Probe.Capture;

/// <summary>
/// A capture whose sequence sites of the mask's T tokens are pooled over each sample's real tokens (see
/// <see cref="TokenMask"/>). The source runs with whole rows (<see cref="MapReduction.Flatten"/>); after each batch the
/// masked sites are pooled with the mask and every other site is reduced as <see cref="SiteRows"/> reduces it (what the
/// ONNX source does itself). A reader of a masked site (<see cref="SiteReductions.OutputReaders"/>) is handed one sample
/// at a time, holding only its real tokens (k x D values for k real tokens), so a study judges units on real tokens only.
/// </summary>
internal sealed class MaskedRun : IActivationRun, IDataBoundRun
{
    readonly IActivationRun _inner;
    readonly TokenMask _mask;
    readonly MapReduction _reduce;
    readonly IReadOnlyDictionary<string, LayerInfo> _layers;  // every site's per-sample shape, known before the run
    readonly HashSet<string> _masked;
    readonly Dictionary<(string, bool), float[]> _buffers = new();
    readonly Dictionary<string, Matrix> _outputs = new(StringComparer.Ordinal), _inputs = new(StringComparer.Ordinal);
    Probe.Data.IDataset? _data;
    int[] _rows = [];  // the original data row of each sample of the batch in progress

    MaskedRun(IActivationRun inner, TokenMask mask, MapReduction reduce, IReadOnlyDictionary<string, LayerInfo> layers, HashSet<string> masked)
    {
        _inner = inner;
        _mask = mask;
        _reduce = reduce;
        _layers = layers;
        _masked = masked;
    }

    /// <summary>
    /// Starts <paramref name="sites"/> on <paramref name="source"/> with <paramref name="mask"/>: <paramref name="shapes"/>
    /// holds each site's per-sample shape and layout; the sites it shows to be sequences of the mask's T tokens are pooled
    /// with it, and when none of them is, the run is refused (the mask would change nothing).
    /// </summary>
    public static IActivationRun Start(IActivationSource source, IReadOnlyList<string> sites, MapReduction reduce, bool includeInputs,
                                       SiteReductions perSite, TokenMask mask, IReadOnlyList<LayerInfo> shapes)
    {
        var layers = shapes.ToDictionary(l => l.Name, StringComparer.Ordinal);
        var masked = sites.Where(s => layers.TryGetValue(s, out var l) && mask.Covers(l.LayoutOrType, l.OutputShape)).ToHashSet(StringComparer.Ordinal);
        if (masked.Count == 0)
            throw new ProbeArgumentException($"The token mask '{mask.Input}' marks the real tokens of sequence sites of {mask.Tokens} tokens ([{mask.Tokens}, D] per sample), but no selected site is one: "
                + string.Join(", ", sites.Select(s => layers.TryGetValue(s, out var l) ? $"{s} [{string.Join(", ", l.OutputShape)}]" : s))
                + ". Select the model's token sites (probe layers lists them), or drop the token mask.");
        MaskedRun? run = null;
        // Readers of masked sites see each sample's real tokens; the batch's rows are known once Forward is called.
        SiteReader Wrap(string site, SiteReader reader) => masked.Contains(site) ? mask.RealTokensOnly(site, reader, r => run!._rows[r]) : reader;
        var wrapped = perSite with
        {
            OutputReaders = perSite.OutputReaders.ToDictionary(kv => kv.Key, kv => Wrap(kv.Key, kv.Value), StringComparer.Ordinal),
            InputReaders = perSite.InputReaders.ToDictionary(kv => kv.Key, kv => Wrap(kv.Key, kv.Value), StringComparer.Ordinal),
        };
        var inner = source.Start(sites, MapReduction.Flatten, includeInputs, wrapped);
        return run = new MaskedRun(inner, mask, reduce, layers, masked);
    }

    public Probe.Data.IDataset Data
    {
        set
        {
            _data = value;
            if (_inner is IDataBoundRun bound) bound.Data = value;
        }
    }

    public IReadOnlyDictionary<string, Matrix> Outputs => _outputs;
    public IReadOnlyDictionary<string, Matrix> Inputs => _inputs;

    public IReadOnlyList<LayerInfo> Layers =>
        _inner.Layers.Select(l => l with
        {
            Features = _outputs.TryGetValue(l.Name, out var m) ? m.Cols : l.Features,
            TokenMask = _masked.Contains(l.Name) ? _mask.Input : null,
        }).ToList();

    public void Forward(ReadOnlySpan<float> input, int count, int[] sampleShape, int offset)
    {
        if (_rows.Length != count) _rows = new int[count];
        for (int k = 0; k < count; k++)
        {
            _rows[k] = _data?.OriginalRow(offset + k) ?? offset + k;
            _mask.CheckHasTokens(_rows[k]);
        }
        _inner.Forward(input, count, sampleShape, offset);
        Reduce(_inner.Outputs, _outputs, input: false);
        Reduce(_inner.Inputs, _inputs, input: true);
    }

    void Reduce(IReadOnlyDictionary<string, Matrix> rows, Dictionary<string, Matrix> into, bool input)
    {
        into.Clear();
        foreach (var (name, m) in rows)
        {
            var info = _layers[name];
            long size = info.OutputShape.Aggregate(1L, (a, d) => a * d);
            if (_reduce == MapReduction.Flatten || m.Cols != size || info.OutputShape.Length <= 1)
            {
                // Whole rows as asked, rows a per-site reduction already reduced, and dense rows: as they are. An input
                // of another shape than its site's output cannot be reduced like it.
                if (_reduce != MapReduction.Flatten && m.Cols != size && input)
                    throw new ProbeException($"Site '{name}' ({info.ModuleType}) has an input of {m.Cols} values per sample but outputs {size}: with a token mask its input cannot be reduced like its output; capture it with reduce flatten.");
                into[name] = m;
                continue;
            }
            var shape = info.OutputShape.Select(d => (long)d).ToArray();
            int cols = _masked.Contains(name) ? info.OutputShape[1] : SiteRows.Columns(shape, info.LayoutOrType, _reduce, name);
            if (!_buffers.TryGetValue((name, input), out var buf) || buf.Length != m.Rows * cols) _buffers[(name, input)] = buf = new float[m.Rows * cols];
            for (int r = 0; r < m.Rows; r++)
            {
                var x = m.Data.AsSpan(r * m.Cols, m.Cols);
                var row = buf.AsSpan(r * cols, cols);
                if (_masked.Contains(name)) _mask.Pool(_rows[r], x, _reduce, row);
                else SiteRows.Reduce(x, shape, info.LayoutOrType, _reduce, row);
            }
            into[name] = new Matrix(m.Rows, cols, buf);
        }
    }

    public void Dispose() => _inner.Dispose();
}
