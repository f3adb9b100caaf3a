using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Probe.Capture;
using Probe.Data;

namespace Probe.Onnx;

/// <summary>
/// An ONNX model as an activation source, run by ONNX Runtime on the CPU. Every node output that carries the batch as
/// its first axis is a site (a symbolic first axis, or the fixed batch size; not one named as another axis of the data
/// input, such as a sequence-first [seq, batch, D] output, and selecting that says why); the ones a capture selects are added to the graph's outputs (on a copy of the model) before the session is
/// created, so ONNX Runtime computes them exactly as in a plain run.
/// <para>Site names: a PyTorch export's module scopes become PyTorch module names — <c>/layer1/layer1.0/relu/Relu</c> is
/// <c>layer1.0.relu</c>, a module called k times gives <c>layer1.0.relu#0</c> … <c>#k-1</c>, a functional op in a
/// module's forward is <c>layer1.0.add</c> (numbered <c>#0</c>, <c>#1</c>… when repeated), a node without a scope keeps
/// its node name (see <see cref="OnnxGraph.SiteNames"/> for every rule). <see cref="SiteInfo.OpType"/> is the ONNX op type.</para>
/// <para>Inputs: the data set feeds the first graph input (or the one named <c>dataInput</c>); any other input comes from
/// <c>inputs</c>, one array per graph input whose rows are aligned with the data set's samples (int64 token ids stay
/// int64): exactly one row per sample, and under a sample cap, a subset or a shard every sample is fed its own row
/// (<see cref="IDataset.OriginalRow"/>). A batch axis that is symbolic takes whole batches; a graph whose input has a fixed batch B (often 1) is run
/// B samples at a time (the last chunk padded by repeating its last sample, whose outputs are dropped).</para>
/// <para>Large models: a model whose weights are stored as external data (how ONNX stores models over protobuf's 2 GB
/// limit) is edited in memory (the graph is small) and ONNX Runtime reads the weights from the files beside the .onnx
/// file; a single .onnx file over 2 GB is refused with a message saying how to re-save it.</para>
/// </summary>
public sealed class OnnxActivationSource : IActivationSource
{
    readonly OnnxGraph _graph;
    Dictionary<string, OnnxSiteDef> _byName;
    readonly List<OnnxSiteDef> _sites;
    readonly IReadOnlyDictionary<string, NpyArray> _extra;
    readonly int _threads;
    InferenceSession? _allSession; // every site exposed: made once to learn output types and shapes, reused for "all"

    /// <param name="path">The .onnx file.</param>
    /// <param name="inputs">Arrays for the graph inputs the data set does not feed, by input name; rows = samples of the
    /// whole data set (a subset of it takes its samples' rows).</param>
    /// <param name="dataInput">The graph input the data set feeds (default: the first one not in <paramref name="inputs"/>).</param>
    /// <param name="threads">ONNX Runtime intra-op threads (0: its default, one per core).</param>
    /// <param name="device">Where ONNX Runtime runs the graph: CUDA through its CUDA execution provider, which the
    /// Microsoft.ML.OnnxRuntime.Gpu package provides (this project references the CPU package, so <c>cuda</c> fails with
    /// that advice and <c>auto</c> is the CPU).</param>
    public OnnxActivationSource(string path, IReadOnlyDictionary<string, NpyArray>? inputs = null, string? dataInput = null, int threads = 0,
        ComputeDevice? device = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        Device = ResolveDevice(device ?? ComputeDevice.Cpu);
        _graph = OnnxGraph.Load(path);
        // A model exported in training mode gives activations that depend on the batch size, on which samples share a
        // batch, or on chance: every figure would change with --batch-size. A wrong result is worse than an error.
        if (_graph.TrainingModeNodes() is { Count: > 0 } training)
            throw new ProbeException($"The ONNX model '{Path.GetFileName(path)}' was exported in training mode: {string.Join("; ", training.Take(3))}" +
                (training.Count > 3 ? $"; and {training.Count - 3} more" : "") +
                ". Its activations would depend on the batch size and on which samples share a batch. Export it in eval mode: call model.eval() before torch.onnx.export, and leave its training argument at the default, TrainingMode.EVAL.");
        _extra = inputs ?? new Dictionary<string, NpyArray>();
        _threads = threads;
        var feedNames = _graph.FeedInputs.Select(i => i.Name).ToList();
        string list = string.Join(", ", feedNames.Select(n => $"'{n}'"));
        foreach (var name in _extra.Keys)
            if (!feedNames.Contains(name))
                throw new ProbeArgumentException($"The ONNX model '{Path.GetFileName(path)}' has no input '{name}'. Its inputs: {list}.");
        if (dataInput is not null && !feedNames.Contains(dataInput))
            throw new ProbeArgumentException($"The ONNX model '{Path.GetFileName(path)}' has no input '{dataInput}'. Its inputs: {list}.");
        if (dataInput is not null && _extra.ContainsKey(dataInput))
            throw new ProbeException($"Input '{dataInput}' is both fed by the data set and given as an array; give it once.");
        DataInputName = dataInput ?? feedNames.FirstOrDefault(n => !_extra.ContainsKey(n))
            ?? throw new ProbeException($"Every input of '{Path.GetFileName(path)}' ({list}) is given as an array; leave one for the data set.");
        // Inputs without an array are refused when the model is run (Bind, Start), not here: listing the sites needs none.
        var missing = feedNames.Where(n => n != DataInputName && !_extra.ContainsKey(n)).ToList();
        if (missing.Count > 0)
            _missingInputs = $"The ONNX model '{Path.GetFileName(path)}' has inputs {list}; the data set feeds '{DataInputName}'. Give the others as arrays " +
                $"(--input NAME=FILE.npy, one row per sample of the data set), missing: {string.Join(", ", missing)}.";
        Description = Path.GetFileName(path);

        _allSession = CreateSession(_graph.Candidates.Select(c => c.Tensor));
        var meta = _allSession.OutputMetadata;
        var dataMeta = _allSession.InputMetadata[DataInputName];
        FixedBatch = dataMeta.Dimensions.Length > 0 && dataMeta.Dimensions[0] > 0 ? dataMeta.Dimensions[0] : 0;
        if (dataMeta.Dimensions.Length > 1 && dataMeta.Dimensions.Skip(1).All(d => d > 0)) InputShape = dataMeta.Dimensions[1..];
        if (InputShape != null) _perSample[DataInputName] = InputShape;
        DataInputType = dataMeta.ElementDataType;

        // Keep outputs ONNX Runtime reports as numeric tensors whose first axis is the batch: the fixed batch, or a
        // symbolic first axis. Not one whose first axis is named as another axis of the data input (the 'seq' of a
        // [batch, seq, D] input: a sequence-first [T, N, D] output is not per-sample, whatever sizes a batch gives), nor
        // one that carries the batch's name on another axis. Other symbolic names are taken as the batch (exporters and
        // shape inference rename it, after a Reshape say) and checked against every batch's size as it runs. The
        // outputs left out are named with the reason when selected.
        var inputDims = dataMeta.SymbolicDimensions;
        string batchName = FixedBatch > 0 ? "" : inputDims.FirstOrDefault() ?? "";
        string batchAxis = FixedBatch > 0 ? $"the fixed batch {FixedBatch}" : batchName.Length > 0 ? $"'{batchName}'" : "its first dimension";
        _sites = new List<OnnxSiteDef>();
        var infos = new List<SiteInfo>();
        foreach (var c in _graph.Candidates)
        {
            if (!meta.TryGetValue(c.Tensor, out var m) || !m.IsTensor || !Numeric(m.ElementDataType)) continue;
            var dims = m.Dimensions;
            if (dims.Length == 0) continue;
            string firstName = m.SymbolicDimensions[0] ?? "";
            bool batchFirst = FixedBatch > 0 ? dims[0] == FixedBatch
                : dims[0] <= 0
                  && !(firstName.Length > 0 && firstName != batchName && inputDims.Skip(1).Contains(firstName))
                  && !(batchName.Length > 0 && firstName != batchName && m.SymbolicDimensions.Skip(1).Contains(batchName));
            if (!batchFirst)
            {
                // A fixed first axis in a model whose batch is symbolic: a constant or a shape, never listed.
                if (FixedBatch == 0 && dims[0] > 0) continue;
                string shape = string.Join(", ", dims.Select((d, i) => d > 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : m.SymbolicDimensions[i] is { Length: > 0 } n ? n : "?"));
                string first = dims[0] > 0 ? dims[0].ToString(System.Globalization.CultureInfo.InvariantCulture) : $"'{firstName}'";
                _notSites.TryAdd(c.Name,
                    $"'{c.Name}' ({c.OpType}) is not a site: its output has shape [{shape}], whose first axis is {first}, not the batch axis of input '{DataInputName}' ({batchAxis}), " +
                    "so its values cannot be split into one row per sample. Select a site where the batch is the first axis (probe layers lists them).");
                continue;
            }
            _sites.Add(c);
            if (dims.Length > 1 && dims.Skip(1).All(d => d > 0)) _perSample.TryAdd(c.Tensor, dims[1..]);
            if (FixedBatch > 0 || (batchName.Length > 0 && firstName == batchName)) _batchNamed.Add(c.Tensor);
            string layout = _graph.LayoutType(c.Node);
            infos.Add(new SiteInfo(c.Name, c.OpType, dims.Skip(1).All(d => d > 0) ? dims[1..] : null) { LayoutType = layout == c.OpType || dims.Length != 3 ? null : layout, ActivationType = _graph.GatedActivation(c.Node) });
        }
        _byName = _sites.ToDictionary(s => s.Name, StringComparer.Ordinal);
        _siteInfos = infos;
    }

    public string Description { get; }

    /// <summary>
    /// The batch-first values. Read before the source is bound to data, the list is first checked with a zero sample
    /// when the graph's inputs have static per-sample shapes (or arrays): see <see cref="SitesCaveat"/>.
    /// </summary>
    public IReadOnlyList<SiteInfo> Sites
    {
        get
        {
            CheckWithZeros();
            return _siteInfos;
        }
    }

    IReadOnlyList<SiteInfo> _siteInfos;

    /// <inheritdoc/>
    /// <remarks>
    /// Null when every value's first axis is named as the batch in the graph, or a run of a batch of one and of two
    /// (the data's first sample once bound; before, a zero sample when the data input and every input without an array
    /// have static per-sample shapes) left out the values that do not follow the batch size. Otherwise it says the list
    /// was not checked for sequence-first values, and why.
    /// </remarks>
    public string? SitesCaveat
    {
        get
        {
            CheckWithZeros();
            return _notChecked;
        }
    }
    public int[]? InputShape { get; }

    /// <summary>The graph input the data set feeds.</summary>
    public string DataInputName { get; }

    /// <summary>The fixed batch size of the data input (often 1), or 0 when the batch axis is symbolic.</summary>
    public int FixedBatch { get; }

    internal TensorElementType DataInputType { get; }
    internal OnnxGraph Graph => _graph;
    internal IReadOnlyDictionary<string, NpyArray> ExtraInputs => _extra;

    /// <summary>The concrete device ONNX Runtime runs on (<c>cpu</c> or <c>cuda:N</c>).</summary>
    public ComputeDevice Device { get; }

    const string CudaProvider = "CUDAExecutionProvider";

    static ComputeDevice ResolveDevice(ComputeDevice device)
    {
        if (device.Kind == DeviceKind.Cpu) return device;
        bool cuda = OrtEnv.Instance().GetAvailableProviders().Contains(CudaProvider, StringComparer.Ordinal);
        if (device.Kind == DeviceKind.Auto) return cuda ? new ComputeDevice(DeviceKind.Cuda, 0) : ComputeDevice.Cpu;
        if (!cuda)
            throw new ProbeException(
                $"Device '{device}' was requested but this process's ONNX Runtime has no CUDA execution provider (Probe references Microsoft.ML.OnnxRuntime, the CPU build). " +
                "To run ONNX models on a GPU, reference Microsoft.ML.OnnxRuntime.Gpu (same version) instead, with CUDA and cuDNN installed; or use --device cpu.");
        return device;
    }

    InferenceSession CreateSession(IEnumerable<string> outputs)
    {
        var options = new SessionOptions();
        try
        {
            if (Device.IsCuda) options.AppendExecutionProvider_CUDA(Device.Index);
            if (_threads > 0) options.IntraOpNumThreads = _threads;
            if (_graph.HasExternalData) options.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", _graph.Folder);
            return new InferenceSession(_graph.WithOutputs(outputs), options);
        }
        catch (OnnxRuntimeException e)
        {
            string hint = _graph.HasExternalData && e.Message.Contains("xternal data", StringComparison.Ordinal)
                ? " Its weights are stored as external data: keep the data file(s) it names beside the .onnx file." : "";
            throw new ProbeException($"ONNX Runtime cannot load '{Path.GetFileName(_graph.Path)}': {FirstLine(e.Message)}{hint}", e);
        }
        finally
        {
            options.Dispose();
        }
    }

    internal static string FirstLine(string message)
    {
        var line = message.Split('\n')[0].Trim();
        return line.Length > 400 ? line[..400] + "…" : line;
    }

    static bool Numeric(TensorElementType t) => t is TensorElementType.Float or TensorElementType.Double or TensorElementType.Float16
        or TensorElementType.BFloat16 or TensorElementType.Int64 or TensorElementType.Int32 or TensorElementType.Int16
        or TensorElementType.Int8 or TensorElementType.UInt8 or TensorElementType.UInt16 or TensorElementType.UInt32
        or TensorElementType.UInt64 or TensorElementType.Bool;

    // Why the model cannot run: graph inputs that neither the data set nor an array feeds (null when all are fed).
    readonly string? _missingInputs;

    /// <summary>Refuses side inputs whose row count is not the data set's (original) sample count, and inputs with no array.</summary>
    public void Bind(IDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (_missingInputs is not null) throw new ProbeException(_missingInputs);
        int n = data.OriginalCount;
        foreach (var (name, array) in _extra)
        {
            if (array.Shape.Length == 0) throw new ProbeException($"Input '{name}' is a scalar array; it needs one row per sample.");
            if (array.Shape[0] == n) continue;
            string whole = n == data.Count ? $"data set '{data.Name}' has {n} samples" : $"data set '{data.Name}' ({data.Count} samples) is taken from one of {n} samples";
            throw new ProbeException($"Input '{name}' has {array.Shape[0]} rows but {whole}: give it exactly one row per sample of the whole data set, in the data set's order.");
        }
        // Once per source (a graph that cannot run a batch of two has each run check its own batches).
        if (!_batchAxesChecked && data.Count > 0 && Unsure().Count > 0)
        {
            var x = new float[data.SampleSize()];
            data.ReadBatch(0, 1, x);
            _notChecked = DropSequenceFirst(x, data.SampleShape, data, ExtraInputs, "the data's first sample") is { } failed ? NotChecked + failed : null;
        }
        _batchAxesChecked = true;
    }

    bool _batchAxesChecked, _zeroTried;
    string? _notChecked;  // why the sites were not checked for sequence-first values (null: checked, or nothing to check)

    const string NotChecked = "not checked for sequence-first values (values whose first axis is the tokens, not the batch, such as those inside nn.MultiheadAttention; a capture leaves them out once it runs the data): ";

    /// <summary>Why a value whose first axis does not follow the batch size is not a site (<paramref name="detail"/>: the sizes seen).</summary>
    internal static string NotBatchFirst(string what, string input, string detail) =>
        $"{what} is not a site: its first axis is not the batch axis of input '{input}' ({detail}; a sequence-first [T, N, D] value, such as those inside " +
        "nn.MultiheadAttention, looks batch-first when a batch holds T samples), so its values cannot be split into one row per sample. Select a site where the batch is the first axis.";

    // The sites whose first axis the graph does not name as the batch: only a run tells whether they follow it.
    List<OnnxSiteDef> Unsure() => _sites.Where(s => !BatchAxisNamed(s.Tensor) && _graph.ProducerOf.ContainsKey(s.Tensor)).ToList();

    /// <summary>
    /// Before the source is bound to data: when some values' first axis only a run can tell, runs a zero sample (zeros of
    /// the data input's static per-sample shape, and of every other input's without an array; the arrays' first rows)
    /// as <see cref="DropSequenceFirst"/> does. An input of dynamic shape without an array, or a zero sample the graph
    /// cannot run, leaves the list unchecked, and <see cref="SitesCaveat"/> says so; binding to data checks it then.
    /// </summary>
    void CheckWithZeros()
    {
        if (_batchAxesChecked || _zeroTried || _allSession is null) return;
        _zeroTried = true;
        if (Unsure().Count == 0) { _batchAxesChecked = true; return; }
        var meta = _allSession!.InputMetadata;
        static int[]? Static(int[] dims) => dims.Length > 0 && dims.Skip(1).All(d => d > 0) ? dims[1..] : null;
        var inputs = new Dictionary<string, NpyArray>(_extra, StringComparer.Ordinal);
        var dynamic = InputShape == null ? new List<string> { DataInputName } : [];
        foreach (var name in _graph.FeedInputs.Select(i => i.Name).Where(n => n != DataInputName && !_extra.ContainsKey(n)))
        {
            if (Static(meta[name].Dimensions) is not { } shape) { dynamic.Add(name); continue; }
            inputs[name] = new NpyArray(NpyDType.Int64, [1, .. shape], new long[shape.Aggregate(1L, (a, d) => a * d)]);
        }
        if (dynamic.Count > 0)
        {
            _notChecked = NotChecked + $"input(s) {string.Join(", ", dynamic.Select(n => $"'{n}'"))} have no static per-sample shape, so no zero sample can be run; give arrays for them (--input) to check.";
            return;
        }
        int[] sample = InputShape!;
        _notChecked = DropSequenceFirst(new float[sample.Aggregate(1, (a, d) => a * d)], sample, null, inputs, "a zero sample") is { } failed ? NotChecked + failed : null;
        _batchAxesChecked = _notChecked == null;
    }

    /// <summary>
    /// Runs sample <paramref name="x"/> (its side inputs from <paramref name="inputs"/>' rows for data row 0 of
    /// <paramref name="data"/>) as a batch of one and of two and drops from <see cref="Sites"/> every value whose first
    /// axis the graph does not name as the batch and that does not follow the batch size (a sequence-first [T, N, D]
    /// value inside nn.MultiheadAttention), so the default selections (every leaf) never take one, and selecting one
    /// says why it is not a site. Returns null, or why the graph could not run the sample (nothing is dropped then).
    /// </summary>
    string? DropSequenceFirst(float[] x, int[] sampleShape, IDataset? data, IReadOnlyDictionary<string, NpyArray> inputs, string what)
    {
        var unsure = Unsure();
        if (unsure.Count == 0) return null;
        var one = new Dictionary<string, long>(StringComparer.Ordinal);
        var two = new Dictionary<string, long>(StringComparer.Ordinal);
        using (var session = CreateSession(unsure.Select(s => s.Tensor)))
        using (var run = new OnnxActivationRun(this, session, unsure, MapReduction.Flatten, includeInputs: false, inputs) { Data = data! })
        {
            try
            {
                var (a, b) = (run.FirstAxes(x, 1, sampleShape), run.FirstAxes(x, 2, sampleShape));
                for (int i = 0; i < run.Fetched.Count; i++) { one[run.Fetched[i]] = a[i]; two[run.Fetched[i]] = b[i]; }
            }
            catch (ProbeException e) { return $"{what} did not run ({e.Message})"; }
        }
        var dropped = unsure.Where(s => one[s.Tensor] != 1 || two[s.Tensor] != 2).ToList();
        if (dropped.Count == 0) return null;
        foreach (var s in dropped)
            _notSites[s.Name] = NotBatchFirst($"'{s.Name}' ({s.OpType})", DataInputName, $"a batch of 1 gives it a first axis of {one[s.Tensor]}, a batch of 2 of {two[s.Tensor]}");
        var gone = dropped.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        _sites.RemoveAll(s => gone.Contains(s.Name));
        _byName = _sites.ToDictionary(s => s.Name, StringComparer.Ordinal);
        _siteInfos = _siteInfos.Where(s => !gone.Contains(s.Name)).ToList();
        return null;
    }

    /// <inheritdoc/>
    public NpyArray InputArray(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var names = _graph.FeedInputs.Select(i => i.Name).ToList();
        string list = string.Join(", ", names.Select(n => $"'{n}'"));
        if (!names.Contains(input))
            throw new ProbeArgumentException($"The ONNX model '{Description}' has no input '{input}'. Its inputs: {list}.");
        if (input == DataInputName)
            throw new ProbeArgumentException($"Input '{input}' of '{Description}' is fed by the data set; a token mask is read from an input given as an array: give it as --input {input}=FILE.npy and feed the data to another input (its inputs: {list}).");
        return _extra.TryGetValue(input, out var array) ? array
            : throw new ProbeArgumentException($"Input '{input}' of '{Description}' has no array; give it as --input {input}=FILE.npy (one row of T tokens per sample: 1 = real token, 0 = padding).");
    }

    internal OnnxSiteDef Site(string name) => _byName.TryGetValue(name, out var s) ? s
        : _notSites.TryGetValue(name, out var why) ? throw new ProbeException(why)
        : throw new ProbeException($"Unknown site '{name}' in '{Description}'. Sites: {string.Join(", ", _sites.Select(x => x.Name))}.");

    public IActivationRun Start(IReadOnlyList<string> sites, MapReduction reduce, bool includeInputs)
    {
        ArgumentNullException.ThrowIfNull(sites);
        ObjectDisposedException.ThrowIf(_allSession is null, this);
        if (_missingInputs is not null) throw new ProbeException(_missingInputs);
        if (sites.Count == 0) throw new ProbeException("No site selected to capture.");
        var chosen = sites.Select(Site).Distinct().OrderBy(s => _sites.IndexOf(s)).ToList();
        var tensors = new HashSet<string>(chosen.Select(s => s.Tensor), StringComparer.Ordinal);
        if (includeInputs)
            foreach (var s in chosen)
                if (s.InputTensor is { } t && _graph.ProducerOf.ContainsKey(t)) tensors.Add(t);
        // Every site exposed: reuse the session made for the metadata. Otherwise a session exposing only what is read,
        // so ONNX Runtime can still reuse the memory of the other intermediate values.
        InferenceSession session;
        if (chosen.Count == _sites.Count) session = _allSession;
        else
        {
            // Sessions are kept per selection until the source is disposed (creating one optimises the graph and
            // prepacks weights again), so repeated captures of the same sites pay for it once and runs never lose theirs.
            string key = string.Join('\n', tensors.Order(StringComparer.Ordinal));
            lock (_sessions)
            {
                if (!_sessions.TryGetValue(key, out session!)) _sessions[key] = session = CreateSession(tensors);
            }
        }
        return new OnnxActivationRun(this, session, chosen, reduce, includeInputs);
    }

    readonly Dictionary<string, InferenceSession> _sessions = new(StringComparer.Ordinal);

    // Site tensors whose first axis ONNX Runtime's metadata names as the batch (the data input's symbolic batch axis, or
    // the fixed batch). Any other site's first axis is only known to have the batch's size in the batches run so far.
    readonly HashSet<string> _batchNamed = new(StringComparer.Ordinal);

    /// <summary>
    /// True when the graph's metadata shows <paramref name="tensor"/>'s first axis is the batch; false when it only has
    /// an unnamed (or otherwise named) first axis, which a sequence-first [T, N, D] value also has, so a batch of T
    /// samples cannot tell them apart and <see cref="OnnxActivationRun"/> checks it with a second batch size.
    /// </summary>
    internal bool BatchAxisNamed(string tensor) => FixedBatch > 0 || _batchNamed.Contains(tensor) || _graph.FeedInputs.Any(i => i.Name == tensor);

    // Node outputs that carry the batch but not as their first axis, with the reason they are not sites.
    readonly Dictionary<string, string> _notSites = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public string? NotASite(string name) => _notSites.GetValueOrDefault(name);

    public SiteOrigin Origin(string site) => OnnxOrigin.Find(_graph, _sites, Site(site), t => _perSample.GetValueOrDefault(t));

    // The per-sample shape of each batch-first value (and of the data input) whose every other axis ONNX Runtime knows.
    readonly Dictionary<string, int[]> _perSample = new(StringComparer.Ordinal);

    public void Dispose()
    {
        _allSession?.Dispose();
        _allSession = null;
        lock (_sessions)
        {
            foreach (var s in _sessions.Values) s.Dispose();
            _sessions.Clear();
        }
    }
}
