namespace Probe.Capture;

/// <summary>
/// One place in a model where activations can be read: a module call (TorchSharp), a node output (ONNX) or a stored
/// matrix (precomputed). <see cref="Name"/> is what a PyTorch user knows (<c>layer1.0.conv1</c>); a module called k
/// times in one forward pass gives sites <c>name#0</c> … <c>name#k-1</c>. <see cref="OpType"/> is the module type
/// (<c>ReLU</c>, <c>Conv2d</c>) or ONNX op type (<c>Relu</c>, <c>Add</c>); <see cref="OutputShape"/> is the per-sample
/// shape when known (null when the source cannot tell before running). <see cref="Leaf"/> is false for a module that
/// contains others (a ResNet block): <c>all</c> selects the leaves.
/// </summary>
public sealed record SiteInfo(string Name, string OpType, int[]? OutputShape, bool Leaf = true)
{
    /// <summary>The module name without the call suffix: <c>layer1.0.relu</c> for <c>layer1.0.relu#1</c>.</summary>
    public string BaseName => Name.IndexOf('#') is int i and >= 0 ? Name[..i] : Name;

    /// <summary>
    /// Set when the site's values were reduced over positions before the source got them (a folder written by
    /// <c>probe capture --reduce mean</c>, max, first or last): <see cref="OutputShape"/> is then the stored shape, one
    /// value per unit, and this says how and from which per-sample shape. Null for whole activations.
    /// </summary>
    public StoredReduction? Reduced { get; init; }

    /// <summary>
    /// The op type whose output layout this site's output has, when it is not <see cref="OpType"/>'s own (see
    /// <see cref="LayerInfo.LayoutType"/>: an ONNX <c>Relu</c> fed by a <c>Conv</c> gives "Conv"). Null: decided by <see cref="OpType"/>.
    /// </summary>
    public string? LayoutType { get; init; }

    /// <summary>The type <see cref="SiteLayout.TokensLast(string, int[])"/> decides this site's layout by.</summary>
    public string LayoutOrType => LayoutType ?? OpType;

    /// <summary>The activation this site computes when its op type does not say (see <see cref="LayerInfo.ActivationType"/>).</summary>
    public string? ActivationType { get; init; }

    /// <summary>
    /// The model input whose token mask marks which of this site's stored tokens are real, when the source holds every
    /// token, padding included (a folder written by <c>probe capture --reduce flatten --token-mask</c>): a reader of the
    /// site (the dead-unit study) is handed each sample's real tokens only, and its rows are not handed over as features.
    /// Null for every other site.
    /// </summary>
    public string? TokenMask { get; init; }
}

/// <summary>
/// How a site's stored values were reduced: <paramref name="How"/> (null when the folder does not say) over the
/// positions (or tokens) of the layer's own per-sample shape <paramref name="From"/>.
/// </summary>
public sealed record StoredReduction(MapReduction? How, int[] From)
{
    /// <summary>The model input whose token mask limited the reduction to each sample's real tokens (see <see cref="LayerInfo.TokenMask"/>); null when every token counted.</summary>
    public string? TokenMask { get; init; }
}

/// <summary>
/// Named activation sites of a model over a data set: what capture and every analysis consume. Three kinds exist:
/// TorchSharp modules (forward hooks), ONNX models (every batch-first node output exposed) and precomputed activations (a folder
/// written by <c>probe capture</c>, or .npy files from PyTorch). A new model format is one new source.
/// </summary>
public interface IActivationSource : IDisposable
{
    /// <summary>What the source is, for messages and reports ("torchvision:resnet18 (resnet18.pt)", "model.onnx").</summary>
    string Description { get; }

    /// <summary>Every selectable site, in execution order.</summary>
    IReadOnlyList<SiteInfo> Sites { get; }

    /// <summary>
    /// The shape of one input sample the model expects (e.g. [3, 224, 224]), or null when the source does not know it.
    /// Used to reject data of the wrong layout with a helpful message before running.
    /// </summary>
    int[]? InputShape { get; }

    /// <summary>
    /// Why <paramref name="name"/>, a value of the model that is not one of <see cref="Sites"/>, cannot be captured (an
    /// ONNX node output whose first axis is not the batch), or null when the source knows no such value. Selecting it
    /// gives this message instead of "unknown layer".
    /// </summary>
    string? NotASite(string name) => null;

    /// <summary>
    /// Why <see cref="Sites"/> may still list values a capture would leave out, when the source cannot settle that
    /// without running data (an ONNX graph whose sequence-first values only a run tells apart, with inputs of dynamic
    /// shape): what <c>probe layers</c> prints under the list. Null when the list is the one a capture selects from.
    /// </summary>
    string? SitesCaveat => null;

    /// <summary>
    /// The array fed to model input <paramref name="input"/>, one row per sample of the whole data set: where a token
    /// mask (<see cref="ActivationCapture.TokenMask"/>) is read from. An unknown input, or one the data set feeds, is
    /// refused with the model's inputs; a source without named inputs (a TorchSharp model, stored activations) refuses.
    /// </summary>
    Probe.Data.NpyArray InputArray(string input) =>
        throw new ProbeArgumentException($"'{Description}' has no input named '{input}': it takes one input, the data. A token mask names an input of an ONNX model that is given as an array (--input {input}=FILE.npy).");

    /// <summary>
    /// Called before sites are resolved for a data set. A source whose sites are learnt by running the model (TorchSharp
    /// modules, traced on the data's first sample) traces here; others need nothing.
    /// </summary>
    void Bind(Probe.Data.IDataset data) { }

    /// <summary>Whether a run can record each site's input (a model can; a folder of stored outputs cannot).</summary>
    bool RecordsInputs => true;

    /// <summary>
    /// Starts a capture of <paramref name="sites"/> (names from <see cref="Sites"/>). With <paramref name="includeInputs"/>
    /// the run also records each site's input (for a ReLU: its pre-activation, read before an in-place op can change it).
    /// </summary>
    IActivationRun Start(IReadOnlyList<string> sites, MapReduction reduce, bool includeInputs);

    /// <summary>
    /// <see cref="Start(IReadOnlyList{string}, MapReduction, bool)"/> with some sites reduced their own way: a site
    /// named in <paramref name="perSite"/>'s <see cref="SiteReductions.Outputs"/> records its output reduced as given
    /// there, one named in <see cref="SiteReductions.Inputs"/> its input (one column per unit, as
    /// <see cref="MapReduction"/> reduces an output; meant for elementwise sites such as a ReLU, whose input has its
    /// output's shape), the others as <paramref name="reduce"/>. The dead-unit study, for example, needs only each
    /// unit's largest pre-activation per sample, not whole maps, and nothing of the outputs of the layers it reads only
    /// for their inputs. Sources that can reduce where the tensor lives (TorchSharp modules: in libtorch, before
    /// anything is copied out, and readers read the tensor in place) override this; the default records whole rows
    /// (<paramref name="reduce"/> must then be <see cref="MapReduction.Flatten"/>), reduces them and hands the readers
    /// theirs after each batch.
    /// </summary>
    IActivationRun Start(IReadOnlyList<string> sites, MapReduction reduce, bool includeInputs, SiteReductions perSite) =>
        perSite.IsEmpty ? Start(sites, reduce, includeInputs) : ReducingRun.Over(Start(sites, reduce, includeInputs), reduce, perSite);

    /// <summary>
    /// Where the values entering <paramref name="site"/> come from, for explaining dead units: an affine map
    /// (Linear/Conv with any eval-mode BatchNorm folded in) whose output is exactly the site's input, or
    /// <see cref="SiteOrigin.Unknown"/> with the reason (a residual add, an op the source cannot see through).
    /// </summary>
    SiteOrigin Origin(string site);
}

/// <summary>One capture in progress: the model runs batch by batch and hands back per-site rows.</summary>
public interface IActivationRun : IDisposable
{
    /// <summary>
    /// Runs one batch. <paramref name="input"/> holds <paramref name="count"/> samples (row-major, each flattened to the
    /// data set's sample shape <paramref name="sampleShape"/>); <paramref name="offset"/> is the first sample's index in
    /// the data set (for sources with side inputs: a run told the data set maps it to the original rows, see
    /// <see cref="IDataBoundRun"/>; without, it indexes the side inputs directly). After the call, <see cref="Outputs"/> and <see cref="Inputs"/> hold one
    /// matrix per site with <paramref name="count"/> rows (maps reduced as asked), valid until the next call.
    /// </summary>
    void Forward(ReadOnlySpan<float> input, int count, int[] sampleShape, int offset);

    /// <summary>Per-site outputs of the last batch (rows = samples).</summary>
    IReadOnlyDictionary<string, Matrix> Outputs { get; }

    /// <summary>Per-site inputs of the last batch (empty unless inputs were requested).</summary>
    IReadOnlyDictionary<string, Matrix> Inputs { get; }

    /// <summary>The sites in firing order with their types, per-sample shapes and column counts (after the first batch).</summary>
    IReadOnlyList<LayerInfo> Layers { get; }
}

/// <summary>
/// A run that feeds per-sample side inputs (an ONNX model's graph inputs other than the data's): told the data set
/// before the first batch, it takes sample i's side rows from the data set's original row
/// <see cref="Probe.Data.IDataset.OriginalRow"/>(i), so a sample cap or a shard feeds every sample its own rows.
/// </summary>
internal interface IDataBoundRun
{
    /// <summary>The data set whose batches <see cref="IActivationRun.Forward"/> gets (its offsets index this data set).</summary>
    Probe.Data.IDataset Data { set; }
}

/// <summary>
/// A run that counted its last batch's NaN and infinite values while copying them out: where it knows a site's count,
/// <see cref="ActivationCapture"/> does not read the rows again to count.
/// </summary>
internal interface IFiniteAwareRun
{
    /// <summary>How many of the site's last output (or input) values were NaN or infinite, or null when the run did not count.</summary>
    long? NonFinite(string site, bool input);
}

/// <summary>
/// Where a run writes one site's rows of one batch instead of into its own buffer: the span of
/// <paramref name="count"/> x <paramref name="cols"/> values for rows [<paramref name="offset"/>, offset + count) of the
/// data set (an <see cref="InMemorySink"/>'s result arrays).
/// </summary>
internal delegate Span<float> RowTarget(string site, bool input, int offset, int count, int cols);

/// <summary>
/// A run that can copy its sites' rows straight into a <see cref="RowTarget"/>: a capture into memory then copies every
/// value once (libtorch's tensor -> the result array) instead of twice (-> the run's buffer -> the result array). Sites
/// written there are absent from <see cref="IActivationRun.Outputs"/> and <see cref="IActivationRun.Inputs"/>, and
/// their non-finite counts come from <see cref="IFiniteAwareRun.NonFinite"/>.
/// </summary>
internal interface IDirectRun : IFiniteAwareRun
{
    /// <summary>Set before the first batch; null (the default) keeps the rows in the run's buffers.</summary>
    RowTarget? Target { set; }
}

/// <summary>
/// What one output value of a convolution reads: every channel of its input (per-sample shape <see cref="InputShape"/>,
/// [C, S1, ..., Sk]) over a window of <see cref="Kernel"/> positions per spatial axis, <see cref="Dilation"/> apart;
/// positions outside the input read 0 (zero padding, the only padding ONNX's Conv and a zeros-padded PyTorch conv do).
/// </summary>
public sealed record ConvWindow(int[] InputShape, int[] Kernel, int[] Dilation)
{
    /// <summary>The window's placements and values are well defined: one kernel size and dilation per spatial axis, all positive.</summary>
    public bool Fits(int cols) =>
        InputShape.Length == Kernel.Length + 1 && Dilation.Length == Kernel.Length
        && InputShape.All(d => d > 0) && Kernel.All(k => k > 0) && Dilation.All(d => d > 0)
        && InputShape.Aggregate(1L, (a, d) => a * d) == cols;
}

/// <summary>Where the values entering a site come from (see <see cref="IActivationSource.Origin"/>).</summary>
public abstract record SiteOrigin
{
    /// <summary>
    /// An affine map y = W x + b feeds the site directly. <see cref="Weight"/> is row-major units × InFeatures (a conv
    /// kernel flattened to out × (in·kh·kw)), <see cref="Bias"/> one value per unit, both with any eval-mode BatchNorm
    /// between the map and the site folded in (<see cref="Folded"/> names it). <see cref="InputSite"/> is the site whose
    /// input is x (its input norm bounds every pre-activation).
    /// </summary>
    public sealed record Affine(string Layer, string LayerType, float[] Weight, float[] Bias, int InFeatures, string InputSite, string? Folded) : SiteOrigin
    {
        /// <summary>
        /// For a convolution whose input's per-sample shape is known: the window each unit reads (then the largest norm
        /// of a window, not of the whole input, bounds its pre-activations). Null: the whole input row is the bound.
        /// </summary>
        public ConvWindow? Window { get; init; }
    }

    /// <summary>No trustworthy origin: <see cref="Reason"/> says why (shown to the user as the cause "unknown").</summary>
    public sealed record Unknown(string Reason) : SiteOrigin;
}

/// <summary>
/// Reads one site's rows of one batch where they lie: <paramref name="count"/> rows of <paramref name="cols"/> values,
/// row-major, laid out as <see cref="MapReduction.Flatten"/> records them (channel-major feature maps, token-major
/// sequences). The span is valid only during the call. A site's input is read before its output; readers of different
/// sites may run at the same time. Returns how many of the values are NaN or infinite (0 when the reader does not
/// count them).
/// </summary>
public delegate long SiteReader(ReadOnlySpan<float> rows, int count, int cols);

/// <summary>
/// Per-site reductions of outputs and inputs (see <see cref="IActivationSource.Start(IReadOnlyList{string}, MapReduction, bool, SiteReductions)"/>),
/// and per-site readers: a site's output named in <see cref="OutputReaders"/> (or input in <see cref="InputReaders"/>)
/// is not recorded at all but handed, batch by batch, to its reader before <see cref="IActivationRun.Forward"/>
/// returns; a TorchSharp module's hook hands it over where libtorch holds it, so nothing is copied. Such a site is
/// absent from <see cref="IActivationRun.Outputs"/> (or <see cref="IActivationRun.Inputs"/>).
/// </summary>
public sealed record SiteReductions(IReadOnlyDictionary<string, MapReduction> Outputs, IReadOnlyDictionary<string, MapReduction> Inputs)
{
    private static readonly IReadOnlyDictionary<string, SiteReader> NoReaders = new Dictionary<string, SiteReader>();

    /// <summary>No site reduced its own way.</summary>
    public static SiteReductions None { get; } = new(new Dictionary<string, MapReduction>(), new Dictionary<string, MapReduction>());

    /// <summary>Sites whose whole output rows go to a reader instead of being recorded.</summary>
    public IReadOnlyDictionary<string, SiteReader> OutputReaders { get; init; } = NoReaders;

    /// <summary>Sites whose whole input rows go to a reader instead of being recorded.</summary>
    public IReadOnlyDictionary<string, SiteReader> InputReaders { get; init; } = NoReaders;

    /// <summary>A reader that skips the site: nothing of it is recorded or looked at.</summary>
    public static SiteReader Skip { get; } = (_, _, _) => 0;

    /// <summary>True when no site is named.</summary>
    public bool IsEmpty => Outputs.Count == 0 && Inputs.Count == 0 && OutputReaders.Count == 0 && InputReaders.Count == 0;

    /// <summary>The reader of a site's output (<paramref name="input"/> false) or input, if it has one.</summary>
    internal SiteReader? ReaderOf(string site, bool input) =>
        (input ? InputReaders : OutputReaders).TryGetValue(site, out var r) ? r : null;
}

/// <summary>
/// The default of <see cref="IActivationSource.Start(IReadOnlyList{string}, MapReduction, bool, SiteReductions)"/>: a run
/// with whole rows whose named sites' outputs and inputs are reduced after each batch, exactly as libtorch reduces them
/// in a TorchSharp module's hook (a site's input having its output's per-sample shape).
/// </summary>
internal sealed class ReducingRun(IActivationRun inner, SiteReductions perSite) : IActivationRun, IDataBoundRun
{
    /// <summary><paramref name="inner"/>, a run of whole rows (<paramref name="reduce"/> must be flatten), with <paramref name="perSite"/> applied after each batch.</summary>
    public static ReducingRun Over(IActivationRun inner, MapReduction reduce, SiteReductions perSite)
    {
        if (reduce != MapReduction.Flatten)
        {
            inner.Dispose();
            throw new ProbeException($"Per-site reductions need whole rows to reduce (reduce flatten), got {reduce}.");
        }
        return new ReducingRun(inner, perSite);
    }

    public Probe.Data.IDataset Data { set { if (inner is IDataBoundRun bound) bound.Data = value; } }

    private readonly Dictionary<string, Matrix> _outputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Matrix> _inputs = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, bool), float[]> _buffers = new();

    public IReadOnlyDictionary<string, Matrix> Outputs => _outputs;
    public IReadOnlyDictionary<string, Matrix> Inputs => _inputs;

    public IReadOnlyList<LayerInfo> Layers =>
        inner.Layers.Select(l => _outputs.TryGetValue(l.Name, out var m) && m.Cols != l.Features ? l with { Features = m.Cols } : l).ToList();

    public void Forward(ReadOnlySpan<float> input, int count, int[] sampleShape, int offset)
    {
        inner.Forward(input, count, sampleShape, offset);
        var layers = inner.Layers.ToDictionary(l => l.Name, StringComparer.Ordinal);
        // Inputs first, as a model's hooks see them; each kind's readers on all cores (readers of different sites
        // share no state).
        Reduce(inner.Inputs, perSite.Inputs, _inputs, layers, input: true);
        Reduce(inner.Outputs, perSite.Outputs, _outputs, layers, input: false);
    }

    private void Reduce(IReadOnlyDictionary<string, Matrix> rows, IReadOnlyDictionary<string, MapReduction> how, Dictionary<string, Matrix> into,
                        Dictionary<string, LayerInfo> layers, bool input)
    {
        into.Clear();
        var read = rows.Where(kv => perSite.ReaderOf(kv.Key, input) != null).ToArray();
        Parallel.ForEach(read, kv => perSite.ReaderOf(kv.Key, input)!(kv.Value.Data.AsSpan(0, kv.Value.Rows * kv.Value.Cols), kv.Value.Rows, kv.Value.Cols));
        foreach (var (name, m) in rows)
        {
            if (perSite.ReaderOf(name, input) != null) continue;
            if (!how.TryGetValue(name, out var reduce) || reduce == MapReduction.Flatten || !layers.TryGetValue(name, out var info))
            {
                into[name] = m;
                continue;
            }
            var shape = info.OutputShape;
            long size = shape.Aggregate(1L, (a, d) => a * d);
            if (size != m.Cols)
                throw new ProbeException($"Site '{name}' ({info.ModuleType}) has {(input ? "an input" : "an output")} of {m.Cols} values per sample but outputs {size}: it cannot be reduced like its output.");
            bool tokens = SiteLayout.TokensLast(info.LayoutOrType, shape);
            // Units and positions per sample, as MapReduction reduces an output: feature maps [C, ...] channel-major,
            // sequences [T, D] token-major.
            int units = shape.Length <= 1 ? (int)size : tokens ? shape[^1] : shape[0];
            int positions = (int)(size / Math.Max(1, units));
            if (shape.Length <= 1 || positions == 1) { into[name] = m; continue; }
            if (!_buffers.TryGetValue((name, input), out var buf) || buf.Length < m.Rows * units) _buffers[(name, input)] = buf = new float[m.Rows * units];
            for (int r = 0; r < m.Rows; r++)
            {
                var row = m.Data.AsSpan(r * m.Cols, m.Cols);
                for (int u = 0; u < units; u++)
                {
                    double acc = reduce == MapReduction.Max ? double.NegativeInfinity : 0;
                    for (int q = 0; q < positions; q++)
                    {
                        float v = tokens ? row[q * units + u] : row[u * positions + q];
                        acc = reduce switch
                        {
                            // NaN wins, as libtorch's amax propagates it.
                            MapReduction.Max => double.IsNaN(acc) ? acc : v > acc || float.IsNaN(v) ? v : acc,
                            MapReduction.Mean => acc + v,
                            _ => throw new ProbeException($"Reduction {reduce} is not supported per site; use max or mean."),
                        };
                    }
                    buf[r * units + u] = (float)(reduce == MapReduction.Mean ? acc / positions : acc);
                }
            }
            into[name] = new Matrix(m.Rows, units, buf.Length == m.Rows * units ? buf : buf[..(m.Rows * units)]);
        }
    }

    public void Dispose() => inner.Dispose();
}
