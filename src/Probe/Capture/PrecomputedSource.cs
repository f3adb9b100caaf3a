using Probe.Data;

namespace Probe.Capture;

/// <summary>
/// Activations computed elsewhere, as an activation source: a folder written by <c>probe capture</c>
/// (<c>layers.json</c>, one <c>&lt;site&gt;.npy</c> per site, <c>labels.npy</c>), or any folder of .npy files from
/// PyTorch (<c>np.save("layer3.npy", acts)</c>; each file is a site, rows = samples, every file the same row count;
/// <c>labels.npy</c>, when present, holds the integer labels). Arrays with more than two dimensions keep their
/// per-sample shape ([C, H, W] maps, [T, D] sequences) and are reduced like captured ones. A layer that
/// <c>probe capture --reduce flatten</c> stored as flat rows has the per-sample shape <c>layers.json</c> records
/// (<c>outputShape</c>), so unit-based analyses (the dead-unit study) see C units of H x W positions as with a 4-D
/// array; its rows are handed over as stored, whatever the reduction asked, as before. A layer stored reduced
/// (<c>--reduce mean</c>, max, first, last: fewer values per sample than its recorded shape) keeps its stored shape
/// and says so in <see cref="SiteInfo.Reduced"/>. There is no model, so no weights explain dead units:
/// <see cref="Origin"/> is always unknown.
/// <para>A folder captured with a token mask (<c>layers.json</c>'s <c>tokenMask</c>) keeps the mask's rows
/// (<see cref="TokenMask.FileName"/>) and is refused without them. A sequence layer of the mask's T tokens stored with
/// every token (<c>--reduce flatten</c>) holds padding tokens: a reader of it (the dead-unit study) is handed each
/// sample's real tokens only, as when the study runs the model with the mask, and recording its rows as features (CKA,
/// similarity, separability, linear probes) is refused, naming the pooled captures that fit (see <see cref="SiteInfo.TokenMask"/>).</para>
/// <para>The "data" of this source is <see cref="Rows"/>: the stored rows themselves (each sample's value is its row
/// index), so the sample caps and subsets every analysis uses select stored rows.</para>
/// </summary>
public sealed class PrecomputedSource : IActivationSource
{
    // PerSample: the per-sample shape analyses see. Flat: the rows hold PerSample flattened (a capture --reduce flatten
    // folder's 2-D file) and are handed over as stored.
    sealed record Stored(SiteInfo Info, Matrix Values, int[] PerSample, bool Flat);

    readonly List<Stored> _sites;
    readonly TokenMask? _mask;  // the mask rows of a masked capture's samples, in the folder's row order

    PrecomputedSource(string dir, List<Stored> sites, int rows, int[]? labels, TokenMask? mask)
    {
        Directory = dir;
        _sites = sites;
        _mask = mask;
        if (rows >= 1 << 24) throw new ProbeException($"'{dir}' holds {rows} rows; precomputed activations support up to {1 << 24}.");
        Rows = new RowIndexDataset(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir))), rows, labels);
    }

    /// <summary>The folder.</summary>
    public string Directory { get; }

    /// <summary>The stored rows as a data set (labels from labels.npy): pass it to capture and the analyses.</summary>
    public IDataset Rows { get; }

    /// <inheritdoc/>
    public string Description => $"precomputed activations in {Directory}";

    /// <inheritdoc/>
    public IReadOnlyList<SiteInfo> Sites => _sites.Select(s => s.Info).ToList();

    /// <inheritdoc/>
    public int[]? InputShape => null;

    /// <summary>
    /// Opens a folder. With <c>layers.json</c> (written by <c>probe capture</c>) the sites, their order, types and files come
    /// from it; otherwise every <c>*.npy</c> except <c>labels.npy</c>, <c>rows.npy</c> and <c>token_mask.npy</c> (<see cref="NpySink.FolderFiles"/>) is a site named by its file name, in natural order of the names (layer2 before layer10).
    /// </summary>
    public static PrecomputedSource Open(string dir)
    {
        if (!System.IO.Directory.Exists(dir)) throw new ProbeException($"Activation folder '{dir}' does not exist.");
        var entries = new List<(string Name, string Type, string? Layout, string? Activation, string File, int[]? Recorded, string? Mask)>();
        string manifest = Path.Combine(dir, CaptureManifest.FileName);
        MapReduction? reduced = null;
        TokenMask? tokenMask = null;
        string maskPath = "";
        if (CaptureManifest.Read(dir) is { } written)
        {
            reduced = written.Reduce;
            if (written.TokenMask is string maskInput) tokenMask = ReadMask(manifest, maskInput, maskPath = Path.Combine(dir, written.TokenMaskFile ?? TokenMask.FileName));
            foreach (var l in written.Layers) entries.Add((l.Name, l.Type, l.Layout, l.Activation, l.File, l.OutputShape, l.TokenMask));
        }
        else
        {
            foreach (var f in System.IO.Directory.EnumerateFiles(dir, "*.npy").Select(Path.GetFileName).Order(NaturalOrder.Instance))
                if (!NpySink.FolderFiles.Contains(f, StringComparer.Ordinal)) entries.Add((Path.GetFileNameWithoutExtension(f!), "?", null, null, f!, null, null));
        }
        if (entries.Count == 0) throw new ProbeException($"Activation folder '{dir}' has no .npy files (besides {string.Join(", ", NpySink.FolderFiles)}).");

        var sites = new List<Stored>();
        int rows = -1;
        string? first = null;
        foreach (var (name, type, layout, activation, file, recorded, mask) in entries)
        {
            string path = Path.Combine(dir, file);
            if (!File.Exists(path)) throw new ProbeException($"'{manifest}' lists layer '{name}' in '{file}', which does not exist.");
            var array = Npy.Read(path);
            if (array.Shape.Length < 1) throw new ProbeException($"'{path}' holds a single number, not one row per sample.");
            var m = Npy.ToMatrix(array, path);
            int[] perSample = array.Shape.Length == 1 ? [1] : array.Shape[1..];
            if (rows < 0)
            {
                rows = m.Rows;
                first = file;
                // Samples are these rows' indices as float32 values (PrecomputedSource.Rows), exact up to 2^24.
                if (rows > 1 << 24) throw new ProbeException($"'{path}' has {rows} rows; Probe numbers precomputed samples with float32 values, exact up to 16,777,216 rows. Split the samples over several folders.");
            }
            else if (m.Rows != rows) throw new ProbeException($"'{file}' has {m.Rows} rows but '{first}' has {rows}: every file must hold the same samples.");
            // The layer's own per-sample shape, as probe capture recorded it: every value stored (reduce flatten, or a
            // dense layer) or one per unit (reduced over positions).
            bool flat = false;
            StoredReduction? how = null;
            if (recorded is { Length: > 0 } && !recorded.SequenceEqual(perSample))
            {
                long size = recorded.Aggregate(1L, (a, d) => a * d);
                if (size == m.Cols) { perSample = recorded; flat = true; }
                else if (size > m.Cols && recorded.Length >= 2) how = new StoredReduction(reduced is MapReduction.Flatten ? null : reduced, recorded) { TokenMask = mask };
                else throw new ProbeException($"'{manifest}' records layer '{name}' with output shape [{string.Join(", ", recorded)}] ({size} values per sample), but '{file}' holds {m.Cols} values per sample.");
            }
            var info = new SiteInfo(name, type, perSample) { Reduced = how, LayoutType = layout, ActivationType = activation };
            // Every token of a sequence the mask covers, padding included (flattened rows, or a [N, T, D] file).
            if (how == null && tokenMask != null && tokenMask.Covers(info.LayoutOrType, perSample)) info = info with { TokenMask = tokenMask.Input };
            sites.Add(new Stored(info, m, perSample, flat));
        }
        if (tokenMask != null && tokenMask.Rows != rows)
            throw new ProbeException($"'{maskPath}' holds the token mask of {tokenMask.Rows} samples but the folder's layers hold {rows}: it must have one row per stored row, in the same order.");
        int[]? labels = null;
        string labelsPath = Path.Combine(dir, NpySink.LabelsFile);
        if (File.Exists(labelsPath))
        {
            labels = Npy.ReadInt32(labelsPath);
            if (labels.Length != rows) throw new ProbeException($"'{labelsPath}' has {labels.Length} labels for {rows} rows.");
        }
        return new PrecomputedSource(dir, sites, rows, labels, tokenMask);
    }

    // The mask rows a masked capture keeps beside its layers: a folder that records a mask without them is refused, so
    // that no layer holding padding tokens is ever judged as if they were real.
    static TokenMask ReadMask(string manifest, string input, string path)
    {
        if (!File.Exists(path))
            throw new ProbeException($"'{manifest}' records a capture with the token mask '{input}', but there is no '{path}', the mask's rows that say which stored tokens are padding; " +
                $"without them a layer stored with every token would be judged on padding as if it were real. Capture the folder again (probe capture --token-mask {input} writes {TokenMask.FileName}), " +
                $"or save the mask's rows for the folder's samples there ([N, T] in the folder's row order: 1 = real token, 0 = padding).");
        return TokenMask.From(input, Npy.Read(path));
    }

    /// <inheritdoc/>
    public void Bind(IDataset data)
    {
        if (data.SampleShape is not [1])
            throw new ProbeException($"{Description} has no model to run on '{data.Name}'; analyse its own rows (PrecomputedSource.Rows).");
    }

    /// <inheritdoc/>
    /// <summary>A folder stores each site's output only.</summary>
    public bool RecordsInputs => false;

    public IActivationRun Start(IReadOnlyList<string> sites, MapReduction reduce, bool includeInputs) =>
        Start(sites, reduce, includeInputs, SiteReductions.None);

    /// <summary>
    /// As <see cref="IActivationSource.Start(IReadOnlyList{string}, MapReduction, bool, SiteReductions)"/>; a site stored
    /// with every token under a token mask (<see cref="SiteInfo.TokenMask"/>) can only be read by a reader, which is handed
    /// each sample's real tokens.
    /// </summary>
    public IActivationRun Start(IReadOnlyList<string> sites, MapReduction reduce, bool includeInputs, SiteReductions perSite)
    {
        if (includeInputs)
            throw new ProbeException($"{Description} stores outputs only, not the inputs of each site (pre-activations).");
        var chosen = sites.Select(n => _sites.FirstOrDefault(s => s.Info.Name == n)
            ?? throw new ProbeException($"Unknown site '{n}'. Sites: {string.Join(", ", _sites.Select(s => s.Info.Name))}.")).ToList();
        if (chosen.FirstOrDefault(s => s.Info.TokenMask != null && perSite.ReaderOf(s.Info.Name, input: false) == null) is { } padded)
            throw new ProbeException($"Layer '{padded.Info.Name}' of {Description} holds every token of its [{string.Join(", ", padded.PerSample)}] sequence, padding included " +
                $"(captured with --reduce flatten and --token-mask {padded.Info.TokenMask}): taken as features, its rows would compare padding tokens as if they were real. " +
                $"Capture it pooled over the real tokens: probe capture ... --token-mask {padded.Info.TokenMask} --reduce mean (or max, first, last); " +
                "probe dead --acts-dir judges this folder's units on the real tokens.");
        var run = new Run(chosen, reduce, Description);
        if (perSite.IsEmpty) return run;
        // Readers of the masked sites see each sample's real tokens: the batch's stored rows index the mask's.
        var mask = _mask;
        var readers = perSite.OutputReaders.ToDictionary(kv => kv.Key,
            kv => chosen.Any(s => s.Info.Name == kv.Key && s.Info.TokenMask != null) ? mask!.RealTokensOnly(kv.Key, kv.Value, r =>
            {
                int row = run.StoredRow(r);
                mask.CheckHasTokens(row);
                return row;
            }) : kv.Value, StringComparer.Ordinal);
        return ReducingRun.Over(run, reduce, perSite with { OutputReaders = readers });
    }

    /// <inheritdoc/>
    public SiteOrigin Origin(string site) =>
        new SiteOrigin.Unknown("precomputed activations carry no weights, so the layer feeding this one is unknown");

    /// <inheritdoc/>
    public void Dispose() { }

    sealed class Run(List<Stored> sites, MapReduction reduce, string description) : IActivationRun
    {
        readonly Dictionary<string, Matrix> _outputs = new(StringComparer.Ordinal);
        readonly Dictionary<string, Matrix> _inputs = new(StringComparer.Ordinal);
        int[] _rows = [];

        /// <summary>The stored row of the last batch's sample <paramref name="r"/>.</summary>
        public int StoredRow(int r) => _rows[r];

        public IReadOnlyDictionary<string, Matrix> Outputs => _outputs;
        public IReadOnlyDictionary<string, Matrix> Inputs => _inputs;

        public IReadOnlyList<LayerInfo> Layers => sites.Select((s, i) =>
            new LayerInfo(s.Info.Name, s.Info.OpType, s.PerSample, _outputs.TryGetValue(s.Info.Name, out var m) ? m.Cols : Columns(s), i) { LayoutType = s.Info.LayoutType, ActivationType = s.Info.ActivationType }).ToList();

        int Columns(Stored s) => s.Flat || s.PerSample.Length < 2 || reduce == MapReduction.Flatten ? s.Values.Cols
            : SiteLayout.TokensLast(s.Info.LayoutOrType, s.PerSample) ? s.PerSample[1] : s.PerSample[0];

        public void Forward(ReadOnlySpan<float> input, int count, int[] sampleShape, int offset)
        {
            // Each sample is one of the stored rows, by its index (PrecomputedSource.Rows or a subset of it): any other
            // value would pick some stored row for a sample that is not it.
            var rows = _rows = new int[count];
            int stored = sites.Count > 0 ? sites[0].Values.Rows : 0;
            for (int r = 0; r < count; r++)
            {
                float v = input[r];
                rows[r] = (int)v;
                if (!(v >= 0 && v < stored) || rows[r] != v)
                    throw new ProbeException($"{description} has no model to run: its samples are the indices of its {stored} stored rows (PrecomputedSource.Rows), but sample {offset + r} of the data is {v.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
            }
            foreach (var s in sites)
            {
                int cols = Columns(s);
                var m = new Matrix(count, cols);
                for (int r = 0; r < count; r++) Reduce(s, s.Values.Row(rows[r]), m.Row(r));
                _outputs[s.Info.Name] = m;
            }
        }

        void Reduce(Stored s, ReadOnlySpan<float> values, Span<float> into)
        {
            if (s.Flat || s.PerSample.Length < 2 || reduce == MapReduction.Flatten) { values.CopyTo(into); return; }
            bool tokens = SiteLayout.TokensLast(s.Info.LayoutOrType, s.PerSample);
            int units = into.Length, positions = values.Length / units;
            if (!tokens && reduce is MapReduction.First or MapReduction.Last)
                throw new ProbeException($"Site '{s.Info.Name}' holds maps of shape [{string.Join(", ", s.PerSample)}]; first and last apply to sequences. Use mean, max or flatten.");
            // Maps are unit-major (C x positions), sequences token-major (T x D).
            int step = tokens ? units : 1, stride = tokens ? 1 : positions;
            for (int u = 0; u < units; u++)
            {
                int at = u * stride;
                switch (reduce)
                {
                    case MapReduction.First: into[u] = values[at]; break;
                    case MapReduction.Last: into[u] = values[at + (positions - 1) * step]; break;
                    case MapReduction.Max:
                        float best = float.NegativeInfinity;
                        for (int p = 0; p < positions; p++) best = Math.Max(best, values[at + p * step]);
                        into[u] = best;
                        break;
                    default:
                        double sum = 0;
                        for (int p = 0; p < positions; p++) sum += values[at + p * step];
                        into[u] = (float)(sum / positions);
                        break;
                }
            }
        }

        public void Dispose() { }
    }

    /// <summary>The stored rows: sample i's single value is i (exact in float32 below 2^24).</summary>
    sealed class RowIndexDataset(string name, int count, int[]? labels) : IDataset
    {
        public string Name { get; } = name;
        public int Count { get; } = count;
        public int[] SampleShape { get; } = [1];
        public int[]? Labels { get; } = labels;
        public IReadOnlyList<string>? ClassNames => null;

        public void ReadBatch(int start, int n, Span<float> destination)
        {
            for (int i = 0; i < n; i++) destination[i] = start + i;
        }
    }

    /// <summary>
    /// File names in natural order: runs of digits compare by their value (layer2 before layer10), everything else
    /// ordinally; names equal that way fall back to ordinal order, so the order is total and the same everywhere.
    /// </summary>
    internal sealed class NaturalOrder : IComparer<string?>
    {
        public static readonly NaturalOrder Instance = new();

        public int Compare(string? a, string? b)
        {
            if (a == null || b == null) return string.CompareOrdinal(a, b);
            int i = 0, j = 0;
            while (i < a.Length && j < b.Length)
            {
                if (char.IsAsciiDigit(a[i]) && char.IsAsciiDigit(b[j]))
                {
                    int si = i, sj = j;
                    while (i < a.Length && char.IsAsciiDigit(a[i])) i++;
                    while (j < b.Length && char.IsAsciiDigit(b[j])) j++;
                    var da = a.AsSpan(si, i - si).TrimStart('0');
                    var db = b.AsSpan(sj, j - sj).TrimStart('0');
                    if (da.Length != db.Length) return da.Length.CompareTo(db.Length);
                    int c = da.SequenceCompareTo(db);
                    if (c != 0) return c;
                }
                else
                {
                    if (a[i] != b[j]) return a[i].CompareTo(b[j]);
                    i++; j++;
                }
            }
            int rest = (a.Length - i).CompareTo(b.Length - j);
            return rest != 0 ? rest : string.CompareOrdinal(a, b);
        }
    }
}
