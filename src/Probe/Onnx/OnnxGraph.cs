using System.Text.RegularExpressions;
using Google.Protobuf;
using Onnx;

namespace Probe.Onnx;

/// <summary>One node output that can be captured: its site name, op type, node, and the tensors it reads and writes.</summary>
/// <param name="Name">The site name (see <see cref="OnnxGraph.SiteNames"/>).</param>
/// <param name="OpType">The ONNX op type.</param>
/// <param name="Node">The node's index in <see cref="OnnxGraph.Nodes"/>.</param>
/// <param name="OutputIndex">Which of the node's outputs.</param>
/// <param name="Tensor">The node output's value name in the graph (what is added to the graph outputs).</param>
/// <param name="InputTensor">The node's first input that carries the batch (its "input" when inputs are recorded), or null; for an activation written as arithmetic (<see cref="OnnxGraph.GatedActivation"/>), the value it is applied to.</param>
internal sealed record OnnxSiteDef(string Name, string OpType, int Node, int OutputIndex, string Tensor, string? InputTensor);

/// <summary>
/// An ONNX model read with the ONNX protobuf messages (OnnxSharp): nodes in topological order, initializers, which
/// values carry the batch (depend on a fed input other than through Shape/Size), and the candidate sites with the names
/// a PyTorch user knows (see <see cref="SiteNames"/>).
/// </summary>
internal sealed partial class OnnxGraph
{
    public ModelProto Model { get; }
    public string Path { get; }

    /// <summary>The folder external data locations are relative to (the model file's folder).</summary>
    public string Folder { get; }

    public IReadOnlyList<NodeProto> Nodes { get; }
    public IReadOnlyDictionary<string, TensorProto> Initializers { get; }
    public IReadOnlyDictionary<string, int> ProducerOf { get; }

    /// <summary>Graph inputs that must be fed (inputs that are not initializers), in declaration order.</summary>
    public IReadOnlyList<ValueInfoProto> FeedInputs { get; }

    /// <summary>Node outputs that carry the batch: candidates for sites, in graph order.</summary>
    public IReadOnlyList<OnnxSiteDef> Candidates { get; }

    /// <summary>True when some initializer keeps its values in an external file.</summary>
    public bool HasExternalData { get; }

    OnnxGraph(ModelProto model, string path)
    {
        Model = model;
        Path = path;
        Folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
        var g = model.Graph;
        var inits = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var t in g.Initializer) inits[t.Name] = t;
        Initializers = inits;
        HasExternalData = g.Initializer.Any(t => t.DataLocation == TensorProto.Types.DataLocation.External);
        FeedInputs = g.Input.Where(i => !inits.ContainsKey(i.Name)).ToList();
        Nodes = TopologicalOrder(g, inits.Keys.Concat(g.Input.Select(i => i.Name)));
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < Nodes.Count; i++)
            foreach (var o in Nodes[i].Output)
                if (o.Length > 0) producer[o] = i;
        ProducerOf = producer;

        // A value carries the batch when it depends on a fed input other than through Shape or Size (whose outputs are
        // metadata: shape arithmetic, constants of shape). Only such values can be per-sample activations.
        var batch = new HashSet<string>(FeedInputs.Select(i => i.Name), StringComparer.Ordinal);
        foreach (var n in Nodes)
        {
            if (n.OpType is "Shape" or "Size" or "Constant") continue;
            if (n.Input.Any(batch.Contains))
                foreach (var o in n.Output)
                    if (o.Length > 0) batch.Add(o);
        }
        BatchValues = batch;
        // A decomposed activation (GELU, SiLU, ... written as arithmetic) reads one value, its pre-activation: the site's
        // input is that value, not the last op's first operand.
        Candidates = SiteNames(Nodes, batch, g.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal))
            .Select(c => c.OutputIndex == 0 && Gated(c.Node) is { } gated && batch.Contains(gated.Root) ? c with { InputTensor = gated.Root } : c).ToList();
    }

    /// <summary>Every value that carries the batch (fed inputs and node outputs computed from them).</summary>
    public IReadOnlySet<string> BatchValues { get; }

    /// <summary>Reads and parses an ONNX file; anything that is not one gives a one-line <see cref="ProbeException"/>.</summary>
    public static OnnxGraph Load(string path)
    {
        if (!File.Exists(path)) throw new ProbeException($"ONNX model '{path}' does not exist.");
        long length = new FileInfo(path).Length;
        if (length >= int.MaxValue)
            throw new ProbeException($"ONNX model '{path}' is {length / (1L << 20)} MiB: protobuf cannot hold more than 2 GB in one file. Save it with its weights as external data (onnx.save(model, path, save_as_external_data=True)) and pass the .onnx file.");
        if (length == 0) throw new ProbeException($"'{path}' is empty, not an ONNX model.");
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ProbeException($"'{path}' is not an ONNX model or is truncated: protobuf parsing failed ({e.Message.Split('\n')[0].TrimEnd('.')}). Export one with torch.onnx.export.");
        }
        if (model.Graph is null || model.Graph.Node.Count == 0 || model.OpsetImport.Count == 0)
            throw new ProbeException($"'{path}' is not an ONNX model (no graph or no opset). Export one with torch.onnx.export.");
        return new OnnxGraph(model, path);
    }

    /// <summary>A graph from a model already in memory (tests; <paramref name="path"/> locates external data).</summary>
    internal static OnnxGraph FromModel(ModelProto model, string path) => new(model, path);

    /// <summary>The model with <paramref name="tensors"/> added to the graph outputs (type left to ONNX Runtime's inference).</summary>
    public byte[] WithOutputs(IEnumerable<string> tensors)
    {
        // Outputs are added to the parsed model, serialised, then removed: no second copy of the weights in memory.
        lock (Model)
        {
            var outputs = Model.Graph.Output;
            int before = outputs.Count;
            var have = outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            try
            {
                foreach (var t in tensors)
                    if (have.Add(t)) outputs.Add(new ValueInfoProto { Name = t });
                return Model.ToByteArray();
            }
            finally
            {
                while (outputs.Count > before) outputs.RemoveAt(outputs.Count - 1);
            }
        }
    }

    static List<NodeProto> TopologicalOrder(GraphProto g, IEnumerable<string> available)
    {
        // ONNX requires graphs to be sorted; some tools write them unsorted. Kahn's algorithm, stable in file order.
        var ready = new HashSet<string>(available, StringComparer.Ordinal) { "" };
        var pending = g.Node.ToList();
        var order = new List<NodeProto>(pending.Count);
        bool progress = true;
        while (pending.Count > 0 && progress)
        {
            progress = false;
            var rest = new List<NodeProto>();
            foreach (var n in pending)
            {
                if (n.Input.All(ready.Contains))
                {
                    order.Add(n);
                    foreach (var o in n.Output) ready.Add(o);
                    progress = true;
                }
                else rest.Add(n);
            }
            pending = rest;
        }
        order.AddRange(pending); // values from an enclosing scope or a malformed graph: keep the file order; ORT will judge
        return order;
    }

    [GeneratedRegex(@"^(.+)_(\d+)$", RegexOptions.CultureInvariant)]
    private static partial Regex RepeatedCall();

    /// <summary>
    /// Site names from node names. PyTorch's exporter names a node by the module scope it ran in and its op:
    /// <c>/layer1/layer1.0/relu/Relu</c>. Rules:
    /// <list type="bullet">
    /// <item>The scope path gives PyTorch's module name: <c>layer1</c>, <c>layer1.0</c>, <c>relu</c> → <c>layer1.0.relu</c>
    /// (a segment that repeats its parent's segment as a prefix, <c>layer1.0</c> under <c>layer1</c>, extends it).</item>
    /// <item>A segment <c>relu_1</c> beside a sibling <c>relu</c> is the module's second call: both calls are the module
    /// <c>layer1.0.relu</c>; a module called more than once gives <c>layer1.0.relu#0</c>, <c>#1</c>… in graph order, like
    /// PyTorch's forward hooks.</item>
    /// <item>In a module scope with no child scopes (a leaf module), the node whose output leaves the scope is the
    /// module's output and takes the module's name; its other nodes (a Linear over tokens exports MatMul then Add) and
    /// every node directly in a scope with child scopes (a functional op in forward: the residual <c>out + identity</c>)
    /// are named scope + "." + lower-case op type: <c>layer1.0.add</c>, <c>embed.matmul</c>, <c>flatten</c> at the top
    /// level. When a name occurs more than once it is numbered <c>#0</c>, <c>#1</c>… in graph order.</item>
    /// <item>Nodes without a scope (other exporters) use the node's name, or its first output's name when it has none,
    /// numbered the same way when repeated.</item>
    /// <item>A node's extra outputs (index k ≥ 1) are <c>name:k</c>.</item>
    /// </list>
    /// Only outputs that carry the batch are sites; Constant, Shape and shape arithmetic are not.
    /// </summary>
    internal static List<OnnxSiteDef> SiteNames(IReadOnlyList<NodeProto> nodes, IReadOnlySet<string> batch, IReadOnlySet<string> graphOutputs)
    {
        int count = nodes.Count;
        var isSite = new bool[count];
        for (int i = 0; i < count; i++) isSite[i] = nodes[i].Output.Any(batch.Contains);

        // Scope segments of each node: "/a/b/Op" → [a, b]; null for nodes without a scope.
        var segs = new string[]?[count];
        for (int i = 0; i < count; i++)
        {
            var name = nodes[i].Name;
            if (name.Length > 1 && name[0] == '/')
            {
                var parts = name.Split('/');
                segs[i] = parts[1..^1];
            }
        }
        var children = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            if (segs[i] is not { } s) continue;
            for (int p = 0; p < s.Length; p++)
            {
                string parent = string.Join('/', s, 0, p);
                if (!children.TryGetValue(parent, out var set)) children[parent] = set = new HashSet<string>(StringComparer.Ordinal);
                set.Add(s[p]);
            }
        }

        string Strip(string parentKey, string seg)
        {
            var m = RepeatedCall().Match(seg);
            return m.Success && children.TryGetValue(parentKey, out var sib) && sib.Contains(m.Groups[1].Value) ? m.Groups[1].Value : seg;
        }

        string ModuleName(string[] s)
        {
            string name = "", prev = "";
            for (int p = 0; p < s.Length; p++)
            {
                string seg = Strip(string.Join('/', s, 0, p), s[p]);
                if (p > 0 && seg.StartsWith(prev + ".", StringComparison.Ordinal)) name += seg[prev.Length..];
                else name = name.Length == 0 ? seg : name + "." + seg;
                prev = seg;
            }
            return name;
        }

        var key = new string?[count];
        for (int i = 0; i < count; i++) if (segs[i] is { } s) key[i] = string.Join('/', s);

        // The output node of each leaf scope: the last site node of the scope whose output is used outside it.
        var consumers = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
            foreach (var inp in nodes[i].Input)
                if (inp.Length > 0) { if (!consumers.TryGetValue(inp, out var l)) consumers[inp] = l = new List<int>(); l.Add(i); }
        var outputNode = new Dictionary<string, int>(StringComparer.Ordinal);
        var lastInScope = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            if (key[i] is not { Length: > 0 } k || !isSite[i] || children.ContainsKey(k)) continue;
            lastInScope[k] = i;
            bool leaves = nodes[i].Output.Any(o => graphOutputs.Contains(o) ||
                (consumers.TryGetValue(o, out var cs) && cs.Any(c => key[c] != k)));
            if (leaves) outputNode[k] = i;
        }
        foreach (var (k, i) in lastInScope) outputNode.TryAdd(k, i);

        var bases = new string[count];
        for (int i = 0; i < count; i++)
        {
            if (!isSite[i]) continue;
            var n = nodes[i];
            if (segs[i] is { } s)
            {
                string module = ModuleName(s);
                string k = key[i]!;
                bool moduleOutput = k.Length > 0 && outputNode.TryGetValue(k, out int o) && o == i;
                bases[i] = moduleOutput ? module : (module.Length == 0 ? "" : module + ".") + n.OpType.ToLowerInvariant();
            }
            else bases[i] = n.Name.Length > 0 ? n.Name : n.Output.FirstOrDefault(o => o.Length > 0) ?? n.OpType.ToLowerInvariant();
        }

        var total = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++) if (isSite[i]) total[bases[i]] = total.GetValueOrDefault(bases[i]) + 1;
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var sites = new List<OnnxSiteDef>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            if (!isSite[i]) continue;
            string b = bases[i];
            int k = seen.GetValueOrDefault(b);
            seen[b] = k + 1;
            string name = total[b] > 1 ? $"{b}#{k}" : b;
            var n = nodes[i];
            string? input = n.Input.FirstOrDefault(batch.Contains);
            for (int j = 0; j < n.Output.Count; j++)
            {
                if (!batch.Contains(n.Output[j])) continue;
                string siteName = j == 0 ? name : $"{name}:{j}";
                while (!used.Add(siteName)) siteName += "'"; // two exporters' names colliding: keep every site selectable
                sites.Add(new OnnxSiteDef(siteName, n.OpType, i, j, n.Output[j], input));
            }
        }
        return sites;
    }

    // ------------------------------------------------------------------------------------------ constant tensors

    /// <summary>
    /// The values of a constant tensor (an initializer, a Constant node's value, through Identity nodes) as float32 with
    /// its dims, or null when <paramref name="name"/> is computed from data. External data is read from the model's folder.
    /// </summary>
    public (float[] Values, long[] Dims)? Constant(string name)
    {
        for (int hops = 0; hops < 8; hops++)
        {
            if (Initializers.TryGetValue(name, out var t)) return (ToFloats(t), t.Dims.ToArray());
            if (!ProducerOf.TryGetValue(name, out int p)) return null;
            var n = Nodes[p];
            if (n.OpType == "Constant")
            {
                var attr = n.Attribute.FirstOrDefault(a => a.Name == "value");
                if (attr?.T is { } ct) return (ToFloats(ct), ct.Dims.ToArray());
                return null;
            }
            if (n.OpType != "Identity") return null;
            name = n.Input[0];
        }
        return null;
    }

    float[] ToFloats(TensorProto t)
    {
        long n = 1;
        foreach (var d in t.Dims) n *= d;
        var dt = (TensorProto.Types.DataType)t.DataType;
        ReadOnlySpan<byte> raw = t.RawData.Span;
        byte[]? external = null;
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
        {
            external = ReadExternal(t);
            raw = external;
        }
        var result = new float[n];
        switch (dt)
        {
            case TensorProto.Types.DataType.Float:
                if (raw.Length > 0) System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw)[..(int)n].CopyTo(result);
                else t.FloatData.CopyTo(result, 0);
                break;
            case TensorProto.Types.DataType.Double:
                if (raw.Length > 0) { var d = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(raw); for (int i = 0; i < n; i++) result[i] = (float)d[i]; }
                else for (int i = 0; i < n; i++) result[i] = (float)t.DoubleData[i];
                break;
            case TensorProto.Types.DataType.Float16:
                if (raw.Length > 0) { var h = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(raw); for (int i = 0; i < n; i++) result[i] = (float)h[i]; }
                else for (int i = 0; i < n; i++) result[i] = (float)BitConverter.UInt16BitsToHalf((ushort)t.Int32Data[i]);
                break;
            case TensorProto.Types.DataType.Bool:   // a flag such as Dropout's training_mode: one byte per value, or int32 data
                if (raw.Length > 0) for (int i = 0; i < n; i++) result[i] = raw[i] != 0 ? 1 : 0;
                else for (int i = 0; i < n; i++) result[i] = t.Int32Data[i] != 0 ? 1 : 0;
                break;
            default:
                throw new ProbeException($"Tensor '{t.Name}' has ONNX data type {dt}; Probe reads float, double and float16 weights.");
        }
        return result;
    }

    byte[] ReadExternal(TensorProto t)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var e in t.ExternalData)
        {
            if (e.Key == "location") location = e.Value;
            else if (e.Key == "offset") offset = long.Parse(e.Value, System.Globalization.CultureInfo.InvariantCulture);
            else if (e.Key == "length") length = long.Parse(e.Value, System.Globalization.CultureInfo.InvariantCulture);
        }
        if (location is null) throw new ProbeException($"Tensor '{t.Name}' of '{Path}' is stored externally but names no file.");
        string file = System.IO.Path.GetFullPath(System.IO.Path.Combine(Folder, location));
        if (!File.Exists(file)) throw new ProbeException($"The external data file '{file}' of ONNX model '{Path}' (tensor '{t.Name}') is missing: keep it beside the .onnx file.");
        using var fs = File.OpenRead(file);
        if (length < 0) length = fs.Length - offset;
        if (offset + length > fs.Length) throw new ProbeException($"The external data file '{file}' is truncated: tensor '{t.Name}' needs bytes {offset}..{offset + length}, the file has {fs.Length}.");
        var bytes = new byte[length];
        fs.Position = offset;
        fs.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>
    /// A BatchNormalization in training mode: the attribute training_mode = 1 (opset 14 on), or its running statistics
    /// as outputs (how exporters mark training before opset 14). It normalises with each batch's own mean and variance.
    /// </summary>
    public static bool IsTrainingBatchNorm(NodeProto n) =>
        n.OpType == "BatchNormalization" && (n.Output.Skip(1).Any(o => o.Length > 0) || IntAttribute(n, "training_mode", 0) != 0);

    /// <summary>
    /// What makes a graph exported in training mode give values that depend on the batch or on chance, one line per
    /// node: each <see cref="IsTrainingBatchNorm"/> node, and each Dropout whose training_mode input is a constant true.
    /// </summary>
    public IReadOnlyList<string> TrainingModeNodes()
    {
        var found = new List<string>();
        foreach (var n in Nodes)
        {
            string name = n.Name.Length > 0 ? n.Name : n.Output.FirstOrDefault() ?? "?";
            if (IsTrainingBatchNorm(n)) found.Add($"BatchNormalization '{name}' normalises with each batch's own statistics");
            else if (n.OpType == "Dropout" && n.Input.Count >= 3 && n.Input[2].Length > 0 && Constant(n.Input[2]) is { Values: [not 0f] })
                found.Add($"Dropout '{name}' drops values at random");
        }
        return found;
    }

    public NodeProto? Producer(string tensor) => ProducerOf.TryGetValue(tensor, out int i) ? Nodes[i] : null;

    // What is known of a value's sign relative to a root value r: Sign (sign of r; Gated when a non-negative function of
    // r multiplied it, i.e. the value is r · g(r) with g(r) > 0 for r > 0), Odd (an odd bounded function of r: erf, tanh),
    // NonNeg (>= 0, > 0 when r > 0: sigmoid, 1 + erf), Pos (> 0: softplus), PosConst (a constant > 0), or nothing.
    enum SignKind { Unknown, Sign, Odd, NonNeg, Pos, PosConst }
    readonly record struct SignOf(SignKind Kind, string Root, bool Gated, string? Gate);

    /// <summary>
    /// The activation a decomposed exporter wrote as arithmetic, when node <paramref name="node"/>'s output is
    /// r · g(r) · c with g(r) &gt; 0 for r &gt; 0 and c &gt; 0 (so it is &gt; 0 exactly when r is): "GELU" (g = 1 + erf(r / √2),
    /// PyTorch's export of nn.GELU before opset 20, or g = 1 + tanh(√(2/π) · (r + 0.044715 · r³)), its tanh
    /// approximation), "SiLU" (g = σ(r)), "Hardswish" (g = hardsigmoid(r)), "Mish" (g = tanh(softplus(r))). Null for
    /// anything else (a plain product, a scale of one value, r³). Also "ReLU6" for a <c>Clip</c> from 0 to 6 (how PyTorch
    /// exports nn.ReLU6 and F.relu6) and "ReLU" for a <c>Clip</c> from 0 with no upper bound: both are &gt; 0 exactly when
    /// their input is, as a ReLU's output is.
    /// </summary>
    public string? GatedActivation(int node) => Gated(node)?.Gate ?? ClippedRelu(node);

    // A Clip whose bounds are constants, min = 0 and max = 6 (ReLU6) or none (ReLU); opset 11 on gives them as inputs
    // (an empty name: no bound), earlier opsets as attributes.
    string? ClippedRelu(int node)
    {
        var n = Nodes[node];
        if (n.OpType != "Clip") return null;
        float? Bound(int input, string attribute, float none)
        {
            if (n.Input.Count > input)
                return n.Input[input].Length == 0 ? none : Constant(n.Input[input]) is { Values: [var v] } ? v : null;
            return FloatAttribute(n, attribute, none);
        }
        var (min, max) = (Bound(1, "min", float.NegativeInfinity), Bound(2, "max", float.PositiveInfinity));
        return min != 0f ? null : max == 6f ? "ReLU6" : max == float.PositiveInfinity ? "ReLU" : null;
    }

    /// <summary>The activation <see cref="GatedActivation"/> names and the value it is applied to (its pre-activation), or null.</summary>
    internal (string Gate, string Root)? Gated(int node)
    {
        if (Nodes[node].OpType is not ("Mul" or "Div")) return null;
        var memo = new Dictionary<string, SignOf>(StringComparer.Ordinal);
        var v = Analyse(Nodes[node].Output[0], memo, 0);
        return v.Kind == SignKind.Sign && v.Gated && v.Gate is { } gate ? (gate, v.Root) : null;
    }

    SignOf Analyse(string tensor, Dictionary<string, SignOf> memo, int depth)
    {
        if (memo.TryGetValue(tensor, out var known)) return known;
        var self = new SignOf(SignKind.Sign, tensor, false, null);
        SignOf result = self;
        if (Constant(tensor) is { } c) result = c.Values.Length > 0 && c.Values.All(x => x > 0) ? new(SignKind.PosConst, "", false, null) : new(SignKind.Unknown, "", false, null);
        else if (depth < 12 && ProducerOf.TryGetValue(tensor, out int i))
        {
            var n = Nodes[i];
            SignOf In(int k) => n.Input.Count > k && n.Input[k].Length > 0 ? Analyse(n.Input[k], memo, depth + 1) : new(SignKind.Unknown, "", false, null);
            bool IsOne(int k) => n.Input.Count > k && Constant(n.Input[k]) is { Values: [1f] };
            switch (n.OpType)
            {
                case "Div" when In(1).Kind == SignKind.PosConst:
                    result = In(0).Kind is SignKind.Sign or SignKind.NonNeg or SignKind.Pos ? In(0) : self;
                    break;
                case "Mul":
                {
                    var a = In(0); var b = In(1);
                    if (b.Kind == SignKind.PosConst && a.Kind is SignKind.Sign or SignKind.NonNeg or SignKind.Pos) result = a;
                    else if (a.Kind == SignKind.PosConst && b.Kind is SignKind.Sign or SignKind.NonNeg or SignKind.Pos) result = b;
                    else if (a.Kind == SignKind.Sign && b.Kind is SignKind.NonNeg or SignKind.Pos && a.Root == b.Root && !a.Gated) result = new(SignKind.Sign, a.Root, true, b.Gate);
                    else if (b.Kind == SignKind.Sign && a.Kind is SignKind.NonNeg or SignKind.Pos && a.Root == b.Root && !b.Gated) result = new(SignKind.Sign, b.Root, true, a.Gate);
                    // r · r = r² (the tanh approximation of GELU writes r³ as r · (r · r)).
                    else if (a is { Kind: SignKind.Sign, Gated: false } && b is { Kind: SignKind.Sign, Gated: false } && a.Root == b.Root) result = new(SignKind.NonNeg, a.Root, false, null);
                    break;
                }
                // Two values with r's sign add to one with r's sign (r + 0.044715 · r³ of the tanh approximation of GELU).
                case "Add" when In(0) is { Kind: SignKind.Sign } a && In(1) is { Kind: SignKind.Sign } b && a.Root == b.Root:
                    result = new(SignKind.Sign, a.Root, false, null);
                    break;
                // erf(r / √2) of GELU, or tanh(√(2/π) · (r + 0.044715 · r³)) of its tanh approximation
                // (nn.GELU(approximate="tanh")): odd, bounded by 1.
                case "Erf" or "Tanh" when In(0) is { Kind: SignKind.Sign, Gated: false } x:
                    result = new(SignKind.Odd, x.Root, false, "GELU");
                    break;
                // 1 + erf(·) or 1 + tanh(·), the constant on either side.
                case "Add" when (IsOne(1) ? In(0) : IsOne(0) ? In(1) : default) is { Kind: SignKind.Odd } o:
                    result = new(SignKind.NonNeg, o.Root, false, o.Gate);
                    break;
                case "Sigmoid" when In(0) is { Kind: SignKind.Sign, Gated: false } x:
                    result = new(SignKind.NonNeg, x.Root, false, "SiLU");
                    break;
                case "HardSigmoid" when In(0) is { Kind: SignKind.Sign, Gated: false } x:
                    result = new(SignKind.NonNeg, x.Root, false, "Hardswish");
                    break;
                case "Softplus" when In(0) is { Kind: SignKind.Sign, Gated: false } x:
                    result = new(SignKind.Pos, x.Root, false, "Mish");
                    break;
                case "Tanh" when In(0) is { Kind: SignKind.Pos } p:
                    result = p;
                    break;
            }
        }
        memo[tensor] = result;
        return result;
    }

    /// <summary>
    /// The op type that decides the layout of the output of node <paramref name="node"/>
    /// (see <see cref="Probe.Capture.SiteLayout"/>): its own for most ops; for a layout-preserving op (an activation,
    /// elementwise arithmetic), the producer's of its first batch-carrying input, followed back
    /// through any chain of such ops (a <c>Relu</c> after a <c>Conv</c> gives "Conv"). Its own op type when the chain
    /// reaches a graph input.
    /// </summary>
    public string LayoutType(int node)
    {
        var n = Nodes[node];
        var seen = new HashSet<int>();
        while (Probe.Capture.SiteLayout.PreservesLayout(n.OpType) && seen.Add(node))
        {
            string? input = n.Input.FirstOrDefault(t => t.Length > 0 && BatchValues.Contains(t) && ProducerOf.ContainsKey(t));
            if (input is null) break;
            node = ProducerOf[input];
            n = Nodes[node];
        }
        return n.OpType;
    }

    public static long IntAttribute(NodeProto n, string name, long fallback) =>
        n.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;

    public static long[]? IntsAttribute(NodeProto n, string name) =>
        n.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.Ints.ToArray() : null;

    public static float FloatAttribute(NodeProto n, string name, float fallback) =>
        n.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.F : fallback;
}
