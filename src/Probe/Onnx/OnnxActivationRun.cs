using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Probe.Capture;
using Probe.Data;

namespace Probe.Onnx;

/// <summary>
/// One capture over an ONNX session: each <see cref="Forward"/> feeds a batch (in chunks of the graph's fixed batch when
/// it has one), asks ONNX Runtime for the selected sites' values (and their inputs), and reduces them into reused
/// per-site row buffers. Non-finite values are passed through; counting them is the caller's job.
/// </summary>
internal sealed class OnnxActivationRun : IActivationRun, IDataBoundRun
{
    sealed class Slot
    {
        public required OnnxSiteDef Site;
        public required string Tensor;
        public required string Layout;   // the op type that decides the layout (SiteLayout): the producer's, through elementwise ops
        public long[]? Shape;   // per-sample shape, from the first batch
        public int Cols = -1;
        public float[] Rows = [];
    }

    readonly OnnxActivationSource _source;
    readonly InferenceSession _session;
    readonly IReadOnlyDictionary<string, NpyArray> _extra;
    readonly MapReduction _reduce;
    readonly List<Slot> _outputs = new();
    readonly List<(OnnxSiteDef Site, Slot Slot)> _inputs = new();
    readonly string[] _fetch;
    readonly string[] _inputNames;
    readonly RunOptions _runOptions = new();
    float[] _scratch = [];
    float[] _feed = [];
    int _rows;
    IDataset? _data; // the data set whose offsets Forward gets: side-input rows are its samples' original rows
    Dictionary<string, Matrix> _outView = new(StringComparer.Ordinal), _inView = new(StringComparer.Ordinal);
    List<LayerInfo> _layers = new();

    // inputs: the arrays fed to the graph's other inputs (default: the source's).
    public OnnxActivationRun(OnnxActivationSource source, InferenceSession session, IReadOnlyList<OnnxSiteDef> sites, MapReduction reduce, bool includeInputs,
        IReadOnlyDictionary<string, NpyArray>? inputs = null)
    {
        _source = source;
        _extra = inputs ?? source.ExtraInputs;
        _session = session;
        _reduce = reduce;
        var byTensor = new Dictionary<string, Slot>(StringComparer.Ordinal);
        Slot SlotFor(OnnxSiteDef s, string tensor)
        {
            if (!byTensor.TryGetValue(tensor, out var slot))
                byTensor[tensor] = slot = new Slot
                {
                    Site = s, Tensor = tensor,
                    Layout = source.Graph.ProducerOf.TryGetValue(tensor, out int producer) ? source.Graph.LayoutType(producer) : s.OpType,
                };
            return slot;
        }
        foreach (var s in sites) _outputs.Add(SlotFor(s, s.Tensor));
        if (includeInputs)
            foreach (var s in sites)
                if (s.InputTensor is { } t) _inputs.Add((s, SlotFor(s, t)));
        // Slots of values ORT returns (graph inputs are not outputs: their values come from the feed).
        _fetch = byTensor.Keys.Where(t => source.Graph.ProducerOf.ContainsKey(t)).ToArray();
        _inputNames = new[] { source.DataInputName }.Concat(_extra.Keys).ToArray();
        _slots = byTensor;
    }

    readonly Dictionary<string, Slot> _slots;

    public IDataset Data { set => _data = value; } // its side-input rows were checked when the source was bound to it

    public IReadOnlyDictionary<string, Matrix> Outputs => _outView;
    public IReadOnlyDictionary<string, Matrix> Inputs => _inView;
    public IReadOnlyList<LayerInfo> Layers => _layers;

    public void Forward(ReadOnlySpan<float> input, int count, int[] sampleShape, int offset)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (count <= 0) throw new ProbeException($"A batch must hold at least one sample, got {count}.");
        long size = 1;
        foreach (var d in sampleShape) size *= d;
        if (input.Length < count * size)
            throw new ProbeException($"The batch holds {input.Length} values; {count} samples of shape [{string.Join(", ", sampleShape)}] need {count * size}.");
        long[] modelSample = SampleShape(sampleShape, size);
        int chunk = _source.FixedBatch > 0 ? _source.FixedBatch : count;
        _rows = count;
        for (int start = 0; start < count; start += chunk)
        {
            int real = Math.Min(chunk, count - start);
            RunChunk(input.Slice((int)(start * size), (int)(real * size)), real, chunk == count ? real : chunk, modelSample, offset + start, start, count);
        }
        Publish(count);
    }

    /// <summary>The per-sample shape to feed: the model's when it is static (the data may be flat), else the data's.</summary>
    long[] SampleShape(int[] dataShape, long size)
    {
        var model = _source.InputShape;
        string name = _source.DataInputName;
        if (model is null) return dataShape.Select(d => (long)d).ToArray();
        long want = 1;
        foreach (var d in model) want *= d;
        if (want != size)
            throw new ProbeException($"The ONNX model's input '{name}' takes samples of shape [{string.Join(", ", model)}] ({want} values); the data's samples have shape [{string.Join(", ", dataShape)}] ({size} values).");
        return model.Select(d => (long)d).ToArray();
    }

    void RunChunk(ReadOnlySpan<float> x, int real, int batch, long[] sample, int dataOffset, int rowOffset, int totalRows)
    {
        var values = new List<OrtValue>(_inputNames.Length);
        try
        {
            var results = Run(values, x, real, batch, sample, dataOffset, _fetch, "");
            using (results)
            {
                if (!_batchChecked)
                {
                    _batchChecked = true;
                    CheckBatchAxes(x, real, sample, dataOffset, results);
                }
                for (int i = 0; i < _fetch.Length; i++) Store(_slots[_fetch[i]], results[i], real, rowOffset, totalRows);
                foreach (var slot in _slots.Values)
                    if (slot.Tensor == _source.DataInputName) Store(slot, values[0], real, rowOffset, totalRows);
                    else if (!_source.Graph.ProducerOf.ContainsKey(slot.Tensor) && Array.IndexOf(_inputNames, slot.Tensor) is int k and > 0)
                        Store(slot, values[k], real, rowOffset, totalRows);
            }
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    bool _batchChecked;

    /// <summary>
    /// Checks, once per run, that each fetched value whose first axis the graph's metadata does not name as the batch
    /// has the batch as its first axis: it must follow the batch size between the chunk just run (<paramref name="real"/>
    /// samples) and a second run of the chunk's first one or two samples. A sequence-first [T, N, D] value (inside
    /// PyTorch's nn.MultiheadAttention) has T on its first axis, which equals the batch size whenever a batch holds T
    /// samples: split into rows it would give each token's values over the batch, not each sample's.
    /// </summary>
    void CheckBatchAxes(ReadOnlySpan<float> x, int real, long[] sample, int dataOffset, IDisposableReadOnlyCollection<OrtValue> results)
    {
        if (_source.FixedBatch > 0) return; // every site's first axis is the fixed batch in the metadata
        var unsure = Enumerable.Range(0, _fetch.Length).Where(i => !_source.BatchAxisNamed(_fetch[i])).ToArray();
        if (unsure.Length == 0) return;
        int other = real == 2 ? 1 : 2;
        int take = Math.Min(other, real); // samples of the chunk fed; a second sample, if missing, repeats the first
        long size = x.Length / real;
        var names = unsure.Select(i => _fetch[i]).ToArray();
        var again = FirstAxes(x[..(int)(take * size)], take, other, sample, dataOffset, names);
        for (int k = 0; k < names.Length; k++)
        {
            var first = results[unsure[k]].GetTensorTypeAndShape().Shape;
            if (first.Length > 0 && first[0] == real && again[k] == other) continue;
            var slot = _slots[names[k]];
            string what = slot.Tensor == slot.Site.Tensor ? $"'{slot.Site.Name}' ({slot.Site.OpType})" : $"The input of site '{slot.Site.Name}' ('{slot.Tensor}')";
            throw new ProbeException(OnnxActivationSource.NotBatchFirst(what, _source.DataInputName,
                $"a batch of {real} gives it shape [{string.Join(", ", first)}], a batch of {other} a first axis of {again[k]}"));
        }
    }

    /// <summary>
    /// The first axis of each fetched value of <paramref name="names"/> when <paramref name="real"/> samples of
    /// <paramref name="x"/> (the last one repeated) are fed as a batch of <paramref name="batch"/>, their side-input rows
    /// from data row <paramref name="dataOffset"/>: what tells a batch-first value from one whose first axis only happens
    /// to have the batch's size. The feed buffer of a batch in progress is left as it is.
    /// </summary>
    internal long[] FirstAxes(ReadOnlySpan<float> x, int real, int batch, long[] sample, int dataOffset, string[] names)
    {
        var values = new List<OrtValue>(_inputNames.Length);
        var feed = _feed;
        _feed = [];
        try
        {
            var results = Run(values, x, real, batch, sample, dataOffset, names, " (Probe runs one to learn which values have the batch as their first axis)");
            using (results)
                return results.Select(r => r.GetTensorTypeAndShape().Shape is { Length: > 0 } d ? d[0] : -1).ToArray();
        }
        finally
        {
            foreach (var v in values) v.Dispose();
            _feed = feed;
        }
    }

    /// <summary><see cref="FirstAxes(ReadOnlySpan{float}, int, int, long[], int, string[])"/> of every fetched value, for the data set's first sample.</summary>
    internal long[] FirstAxes(ReadOnlySpan<float> firstSample, int batch, int[] dataShape)
    {
        long size = 1;
        foreach (var d in dataShape) size *= d;
        return FirstAxes(firstSample[..(int)size], 1, batch, SampleShape(dataShape, size), 0, _fetch);
    }

    /// <summary>The fetched values, in the order <see cref="FirstAxes(ReadOnlySpan{float}, int, int[])"/> gives their axes.</summary>
    internal IReadOnlyList<string> Fetched => _fetch;

    /// <summary>
    /// Feeds <paramref name="real"/> samples of <paramref name="x"/> as a batch of <paramref name="batch"/> (the data
    /// input, then each side input's rows from data row <paramref name="dataOffset"/>, added to <paramref name="values"/>
    /// for the caller to dispose) and returns <paramref name="fetch"/>; ONNX Runtime's failure is one line, with
    /// <paramref name="why"/> saying why Probe ran this batch when it is not a batch of the data.
    /// </summary>
    IDisposableReadOnlyCollection<OrtValue> Run(List<OrtValue> values, ReadOnlySpan<float> x, int real, int batch, long[] sample, int dataOffset, string[] fetch, string why)
    {
        var shape = new long[sample.Length + 1];
        shape[0] = batch;
        sample.CopyTo(shape, 1);
        values.Add(DataValue(x, real, batch, shape));
        foreach (var name in _inputNames.Skip(1)) values.Add(ExtraValue(name, _extra[name], dataOffset, real, batch));
        try
        {
            return _session.Run(_runOptions, _inputNames, values, fetch);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ProbeException($"ONNX Runtime failed on a batch of shape [{string.Join(", ", shape)}] for input '{_source.DataInputName}'{why}: {OnnxActivationSource.FirstLine(e.Message)}", e);
        }
    }

    OrtValue DataValue(ReadOnlySpan<float> x, int real, int batch, long[] shape)
    {
        long size = x.Length / real;
        long total = batch * size;
        switch (_source.DataInputType)
        {
            case TensorElementType.Float:
                {
                    if (_feed.Length != total) _feed = new float[total];
                    var buf = _feed; // reused: the OrtValue pins it only for this chunk
                    x.CopyTo(buf);
                    for (int r = real; r < batch; r++) x.Slice((int)((real - 1) * size), (int)size).CopyTo(buf.AsSpan((int)(r * size)));
                    return OrtValue.CreateTensorValueFromMemory(buf, shape);
                }
            case TensorElementType.Double:
                return OrtValue.CreateTensorValueFromMemory(Padded(x, real, batch, size, v => (double)v), shape);
            case TensorElementType.Int64:
                return OrtValue.CreateTensorValueFromMemory(Padded(x, real, batch, size, v => (long)Whole(v)), shape);
            case TensorElementType.Int32:
                return OrtValue.CreateTensorValueFromMemory(Padded(x, real, batch, size, v => (int)Whole(v)), shape);
            default:
                throw new ProbeException($"The ONNX model's input '{_source.DataInputName}' has element type {_source.DataInputType}; the data set can feed float, double, int64 or int32 inputs. Give it as an array of that type instead.");
        }
    }

    // An integer input (token ids) fed from the data set's float32 values: each must be a whole number float32 holds
    // exactly (below 2^24 in size); rounding anything else would feed the model other ids than the data's.
    float Whole(float v) => v == MathF.Floor(v) && MathF.Abs(v) < 16_777_216f ? v
        : throw new ProbeException($"The ONNX model's input '{_source.DataInputName}' takes {_source.DataInputType} values (such as token ids), but the data set holds {v.ToString(System.Globalization.CultureInfo.InvariantCulture)}: " +
                                   "its values must be whole numbers below 16,777,216 (exact in float32). Give larger ids, or ids of another type, as an array with --input NAME=FILE.npy (int64 stays int64).");

    static T[] Padded<T>(ReadOnlySpan<float> x, int real, int batch, long size, Func<float, T> convert)
    {
        var buf = new T[batch * size];
        for (long i = 0; i < buf.LongLength; i++)
        {
            long r = Math.Min(i / size, real - 1);
            buf[i] = convert(x[(int)(r * size + i % size)]);
        }
        return buf;
    }

    OrtValue ExtraValue(string name, NpyArray array, int offset, int real, int batch)
    {
        if (array.Shape.Length == 0) throw new ProbeException($"Input '{name}' is a scalar array; it needs one row per sample.");
        int rows = array.Shape[0];
        // Sample k of the chunk is the data set's sample offset + k, whose side row is its row in the original data set.
        var at = new long[real];
        for (int k = 0; k < real; k++)
        {
            at[k] = _data is null ? offset + k : _data.OriginalRow(offset + k);
            if (at[k] >= rows)
                throw new ProbeException($"Input '{name}' has {rows} rows but the data set has at least {at[k] + 1} samples: its rows must be aligned with the data set's.");
        }
        long per = rows == 0 ? 0 : array.Count / rows;
        var shape = new long[array.Shape.Length];
        shape[0] = batch;
        for (int i = 1; i < shape.Length; i++) shape[i] = array.Shape[i];
        var meta = _session.InputMetadata[name];
        long Src(long i) => at[Math.Min(i / per, real - 1)] * per + i % per;
        long n = batch * per;
        switch (meta.ElementDataType)
        {
            case TensorElementType.Int64: { var b = new long[n]; for (long i = 0; i < n; i++) b[i] = AsLong(array, Src(i), name); return OrtValue.CreateTensorValueFromMemory(b, shape); }
            case TensorElementType.Int32: { var b = new int[n]; for (long i = 0; i < n; i++) b[i] = checked((int)AsLong(array, Src(i), name)); return OrtValue.CreateTensorValueFromMemory(b, shape); }
            case TensorElementType.Float: { var b = new float[n]; for (long i = 0; i < n; i++) b[i] = (float)array.GetDouble(Src(i)); return OrtValue.CreateTensorValueFromMemory(b, shape); }
            case TensorElementType.Double: { var b = new double[n]; for (long i = 0; i < n; i++) b[i] = array.GetDouble(Src(i)); return OrtValue.CreateTensorValueFromMemory(b, shape); }
            case TensorElementType.Bool: { var b = new bool[n]; for (long i = 0; i < n; i++) b[i] = array.GetDouble(Src(i)) != 0; return OrtValue.CreateTensorValueFromMemory(b, shape); }
            case TensorElementType.UInt8: { var b = new byte[n]; for (long i = 0; i < n; i++) b[i] = checked((byte)AsLong(array, Src(i), name)); return OrtValue.CreateTensorValueFromMemory(b, shape); }
            default:
                throw new ProbeException($"The ONNX model's input '{name}' has element type {meta.ElementDataType}; Probe feeds int64, int32, uint8, bool, float and double inputs.");
        }
    }

    static long AsLong(NpyArray a, long i, string name) => a.Data switch
    {
        long[] l => l[i],
        int[] n => n[i],
        byte[] b => b[i],
        bool[] b => b[i] ? 1 : 0,
        _ => throw new ProbeException($"Input '{name}' is {a.DType} but the model wants integers (token ids): save it as int64."),
    };

    void Store(Slot slot, OrtValue value, int real, int rowOffset, int totalRows)
    {
        var info = value.GetTensorTypeAndShape();
        var shape = info.Shape;
        if (shape.Length == 0 || shape[0] != (_source.FixedBatch > 0 ? _source.FixedBatch : real))
            throw new ProbeException($"Site '{slot.Site.Name}' ({slot.Site.OpType}) gave a value of shape [{string.Join(", ", shape)}]: Probe expects the batch as its first axis.");
        var sample = shape.AsSpan(1);
        if (slot.Shape is null)
        {
            slot.Shape = sample.ToArray();
            slot.Cols = SiteRows.Columns(sample, slot.Layout, _reduce, slot.Site.Name);
        }
        else if (!sample.SequenceEqual(slot.Shape))
            throw new ProbeException($"Site '{slot.Site.Name}' changed its per-sample shape from [{string.Join(", ", slot.Shape)}] to [{string.Join(", ", sample.ToArray())}] between batches.");
        if (slot.Rows.Length != totalRows * slot.Cols) slot.Rows = new float[totalRows * slot.Cols];
        long per = 1;
        foreach (var d in sample) per *= d;
        ReadOnlySpan<float> all = Floats(value, info.ElementDataType, real * per);
        for (int r = 0; r < real; r++)
            SiteRows.Reduce(all.Slice((int)(r * per), (int)per), sample, slot.Layout, _reduce, slot.Rows.AsSpan((rowOffset + r) * slot.Cols, slot.Cols));
    }

    ReadOnlySpan<float> Floats(OrtValue v, TensorElementType t, long n)
    {
        if (t == TensorElementType.Float) return v.GetTensorDataAsSpan<float>()[..(int)n];
        if (_scratch.Length < n) _scratch = new float[n];
        var s = _scratch.AsSpan(0, (int)n);
        switch (t)
        {
            case TensorElementType.Double: { var src = v.GetTensorDataAsSpan<double>(); for (int i = 0; i < n; i++) s[i] = (float)src[i]; break; }
            case TensorElementType.Float16: { var src = MemoryMarshal.Cast<Float16, Half>(v.GetTensorDataAsSpan<Float16>()); for (int i = 0; i < n; i++) s[i] = (float)src[i]; break; }
            case TensorElementType.BFloat16: { var src = MemoryMarshal.Cast<BFloat16, ushort>(v.GetTensorDataAsSpan<BFloat16>()); for (int i = 0; i < n; i++) s[i] = BitConverter.Int32BitsToSingle(src[i] << 16); break; }
            case TensorElementType.Int64: { var src = v.GetTensorDataAsSpan<long>(); for (int i = 0; i < n; i++) s[i] = src[i]; break; }
            case TensorElementType.Int32: { var src = v.GetTensorDataAsSpan<int>(); for (int i = 0; i < n; i++) s[i] = src[i]; break; }
            case TensorElementType.Int16: { var src = v.GetTensorDataAsSpan<short>(); for (int i = 0; i < n; i++) s[i] = src[i]; break; }
            case TensorElementType.Int8: { var src = v.GetTensorDataAsSpan<sbyte>(); for (int i = 0; i < n; i++) s[i] = src[i]; break; }
            case TensorElementType.UInt8: { var src = v.GetTensorDataAsSpan<byte>(); for (int i = 0; i < n; i++) s[i] = src[i]; break; }
            case TensorElementType.UInt16: { var src = v.GetTensorDataAsSpan<ushort>(); for (int i = 0; i < n; i++) s[i] = src[i]; break; }
            case TensorElementType.UInt32: { var src = v.GetTensorDataAsSpan<uint>(); for (int i = 0; i < n; i++) s[i] = src[i]; break; }
            case TensorElementType.UInt64: { var src = v.GetTensorDataAsSpan<ulong>(); for (int i = 0; i < n; i++) s[i] = src[i]; break; }
            case TensorElementType.Bool: { var src = v.GetTensorDataAsSpan<bool>(); for (int i = 0; i < n; i++) s[i] = src[i] ? 1 : 0; break; }
            default: throw new ProbeException($"A site's values have element type {t}, which Probe cannot read as numbers.");
        }
        return s;
    }

    void Publish(int rows)
    {
        _outView = _outputs.ToDictionary(s => s.Site.Name, s => new Matrix(rows, s.Cols, s.Rows), StringComparer.Ordinal);
        _inView = _inputs.ToDictionary(p => p.Site.Name, p => new Matrix(rows, p.Slot.Cols, p.Slot.Rows), StringComparer.Ordinal);
        if (_layers.Count == 0)
            _layers = _outputs.Select((s, i) => new LayerInfo(s.Site.Name, s.Site.OpType, s.Shape!.Select(d => (int)d).ToArray(), s.Cols, i) { LayoutType = s.Layout == s.Site.OpType || s.Shape!.Length != 2 ? null : s.Layout, ActivationType = _source.Graph.GatedActivation(s.Site.Node) }).ToList();
    }

    public void Dispose()
    {
        _runOptions.Dispose(); // the session belongs to the source, which may reuse it for the next capture
    }
}
