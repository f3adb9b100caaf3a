using System.Text.Json;
using Probe.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Models;

/// <summary>
/// Loads and saves a module's parameters and buffers (a PyTorch state dict), strictly by name and shape. Formats:
/// <list type="bullet">
/// <item><c>.safetensors</c>: the safetensors format, every element type PyTorch writes (F32, F16, BF16, F64, I64,
/// I32, I16, I8, U8, BOOL); tensors named as in a PyTorch state dict (<c>fc1.weight</c>,
/// <c>bn1.num_batches_tracked</c>).</item>
/// <item><c>*.safetensors.index.json</c>: sharded safetensors (Hugging Face layout: <c>weight_map</c> from tensor
/// name to shard file in the same folder). A folder holding <c>model.safetensors.index.json</c> or
/// <c>model.safetensors</c> may be given instead of the file.</item>
/// <item>PyTorch checkpoints (<c>.pt</c>, <c>.pth</c>, <c>.bin</c>, ..., recognised by content: a zip archive or a
/// pickle): state dicts saved with <c>torch.save(model.state_dict(), path)</c>, or training checkpoints that hold one
/// among other entries, after the pickle passed the weights-only check of <see cref="PyTorchCheckpoint"/>.</item>
/// <item>Anything else: TorchSharp's own <c>Module.save</c> format.</item>
/// </list>
/// Values are copied into each model tensor in the model tensor's element type (as PyTorch's
/// <c>load_state_dict</c> does with <c>copy_</c>). When the file's names are not the model's, the tensors under the one
/// leading prefix whose names and shapes are exactly the model's are loaded (a wrapper's <c>module.</c>, a checkpoint's
/// <c>model_state_dict.</c>); two such prefixes are refused.
/// </summary>
public static class Weights
{
    /// <summary>True when <paramref name="path"/> names a safetensors file (by extension).</summary>
    public static bool IsSafeTensors(string path) =>
        string.Equals(Path.GetExtension(path), ".safetensors", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when <paramref name="path"/> names a sharded-safetensors index (<c>*.index.json</c>).</summary>
    public static bool IsShardIndex(string path) =>
        path.EndsWith(".index.json", StringComparison.OrdinalIgnoreCase);

    /// <summary>Loads weights from <paramref name="path"/> into <paramref name="module"/>, strictly by name and shape.</summary>
    public static void Load(nn.Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        path = Resolve(path);
        if (ReadTensors(path) is { } tensors)
        {
            Assign(module, tensors, path);
            return;
        }
        if (ModelLoader.IsOnnx(path))
            throw new ProbeException($"'{path}' is an ONNX model, not a weights file: give it as the model (--model {path}), which carries its own weights.");
        try { module.load(path, strict: true); }
        catch (Exception e) when (e is not ProbeException)
        {
            throw new ProbeException($"Could not load TorchSharp weights from '{path}' into the model ({e.Message}). The model's tensors are: {Describe(module)}. Files other than safetensors and PyTorch checkpoints are read as TorchSharp's Module.save format.", e);
        }
    }

    /// <summary>
    /// The names and shapes of the tensors in a weights file (safetensors, sharded index or PyTorch state dict),
    /// reading only headers where the format allows.
    /// </summary>
    public static IReadOnlyDictionary<string, long[]> ReadShapes(string path)
    {
        path = Resolve(path);
        if (IsSafeTensors(path))
            return SafeTensors.ReadHeader(path).Entries.ToDictionary(e => e.Name, e => e.Shape, StringComparer.Ordinal);
        if (IsShardIndex(path))
        {
            var result = new Dictionary<string, long[]>(StringComparer.Ordinal);
            foreach (var shard in ReadIndex(path).Values.Distinct(StringComparer.Ordinal))
                foreach (var e in SafeTensors.ReadHeader(shard).Entries) result[e.Name] = e.Shape;
            return result;
        }
        if (PyTorchCheckpoint.Looks(path))
        {
            // A nested checkpoint can spell one name twice ({"a.b": x, "a": {"b": y}}); loading it is refused, a shape is the first's.
            var result = new Dictionary<string, long[]>(StringComparer.Ordinal);
            foreach (var t in PyTorchCheckpoint.Read(path)) result.TryAdd(t.Name, t.Shape);
            return result;
        }
        throw new ProbeException($"Cannot read tensor shapes from '{path}': give a .safetensors file, a *.safetensors.index.json or a PyTorch state dict (.pt/.pth).");
    }

    /// <summary>The tensors of a safetensors file, sharded index or PyTorch state dict; null for TorchSharp's format.</summary>
    public static IReadOnlyList<RawTensor>? ReadTensors(string path)
    {
        path = Resolve(path);
        if (IsSafeTensors(path)) return SafeTensors.ReadRaw(path).Tensors;
        if (IsShardIndex(path)) return ReadSharded(path);
        if (PyTorchCheckpoint.Looks(path)) return PyTorchCheckpoint.Read(path);
        return null;
    }

    static string Resolve(string path)
    {
        if (Directory.Exists(path))
        {
            foreach (var name in new[] { "model.safetensors.index.json", "model.safetensors" })
                if (File.Exists(Path.Combine(path, name))) return Path.Combine(path, name);
            throw new ProbeException($"Folder '{path}' holds neither model.safetensors.index.json nor model.safetensors; give the weights file itself.");
        }
        if (!File.Exists(path)) throw new ProbeException($"Weights file '{path}' does not exist.");
        return path;
    }

    /// <summary>Reads a sharded-safetensors index: tensor name -> full path of its shard.</summary>
    static Dictionary<string, string> ReadIndex(string path)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new ProbeException($"'{path}' is not a sharded-safetensors index: it has no \"weight_map\" object.");
            foreach (var p in wm.EnumerateObject())
            {
                string file = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : "";
                if (file.Length == 0 || Path.IsPathRooted(file) || file.Contains('/') || file.Contains('\\') || file.StartsWith("..", StringComparison.Ordinal))
                    throw new ProbeException($"'{path}': weight_map maps '{p.Name}' to '{p.Value}', which is not a file name in the index's folder.");
                map[p.Name] = Path.Combine(dir, file);
            }
        }
        catch (JsonException e) { throw new ProbeException($"'{path}' is not valid JSON ({e.Message}).", e); }
        if (map.Count == 0) throw new ProbeException($"'{path}': its weight_map is empty.");
        return map;
    }

    static IReadOnlyList<RawTensor> ReadSharded(string path)
    {
        var map = ReadIndex(path);
        var all = new List<RawTensor>();
        var problems = new List<string>();
        foreach (var shard in map.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            if (!File.Exists(shard)) { problems.Add($"shard '{Path.GetFileName(shard)}' does not exist"); continue; }
            var tensors = SafeTensors.ReadRaw(shard).Tensors;
            var names = tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var (name, file) in map)
                if (file == shard && !names.Contains(name)) problems.Add($"'{name}' is mapped to '{Path.GetFileName(shard)}', which does not hold it");
            all.AddRange(tensors);
        }
        if (problems.Count > 0) throw new ProbeException($"Sharded weights '{path}' are inconsistent: {string.Join("; ", problems)}.");
        return all;
    }

    /// <summary>Saves <paramref name="module"/>'s parameters and buffers to <paramref name="path"/> (safetensors, each
    /// tensor in its own element type, or TorchSharp format).</summary>
    public static void Save(nn.Module module, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (IsSafeTensors(path))
        {
            SafeTensors.WriteRaw(path, ExportRaw(module), metadata);
            return;
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        module.save(path);
    }

    /// <summary>The module's parameters then buffers, by state-dict name, as float32 copies.</summary>
    public static IReadOnlyList<NamedArray> Export(nn.Module module)
    {
        var result = new List<NamedArray>();
        foreach (var (name, t) in StateTensors(module))
        {
            using var scope = NewDisposeScope();
            var c = t.detach().cpu().to_type(ScalarType.Float32).contiguous();
            result.Add(new NamedArray(name, c.shape.ToArray(), c.Values<float>()));
        }
        return result;
    }

    /// <summary>The module's parameters then buffers, by state-dict name, each in its own element type.</summary>
    public static IReadOnlyList<RawTensor> ExportRaw(nn.Module module) =>
        StateTensors(module).Select(t => PyTorchCheckpoint.ToRaw(t.Name, t.Tensor, "the model")).ToArray();

    /// <summary>Copies float32 <paramref name="tensors"/> into the module by name (see the raw overload).</summary>
    public static void Assign(nn.Module module, IReadOnlyList<NamedArray> tensors, string source) =>
        Assign(module, tensors.Select(t => new RawTensor(t.Name, SafeTensorsDType.F32, t.Shape, ToBytes(t))).ToArray(), source);

    static byte[] ToBytes(NamedArray a)
    {
        if (SafeTensors.Numel(a.Shape) != a.Data.Length)
            throw new ProbeException($"Tensor '{a.Name}' of shape {a.ShapeText} needs {SafeTensors.Numel(a.Shape)} values, got {a.Data.Length}.");
        var b = new byte[a.Data.Length * 4];
        Buffer.BlockCopy(a.Data, 0, b, 0, b.Length);
        return b;
    }

    /// <summary>
    /// Copies <paramref name="tensors"/> into the module's parameters and buffers by name, converting each to the
    /// model tensor's element type. Strict: any missing name, unexpected name or shape mismatch throws one
    /// <see cref="ProbeException"/> listing every problem and the model's own names and shapes; nothing is changed then.
    /// </summary>
    public static void Assign(nn.Module module, IReadOnlyList<RawTensor> tensors, string source)
    {
        var targets = StateTensors(module);
        var targetNames = new HashSet<string>(targets.Select(t => t.Name), StringComparer.Ordinal);
        var problems = Problems(targets, tensors, out var byName);
        if (problems.Count > 0)
        {
            var fits = Prefixes(tensors, targets.Count).Select(p => (Prefix: p, Under: Under(tensors, p)))
                .Where(c => Problems(targets, c.Under, out _).Count == 0).ToList();
            if (fits.Count > 1)
                throw new ProbeException($"Weights in '{source}' fit the model under {fits.Count} prefixes ({string.Join(", ", fits.Select(f => $"'{f.Prefix}'"))}), and Probe will not guess which one you mean: save that one's state dict on its own, e.g. torch.save(checkpoint[\"{fits[0].Prefix.TrimEnd('.')}\"], \"model.pt\") for a nested entry.");
            if (fits.Count == 0)
            {
                // Every name there with only shapes that differ: the shapes say it all, and the model's 100-odd names would bury them.
                bool namesDiffer = byName.Count != tensors.Count || targets.Any(t => !byName.ContainsKey(t.Name)) || tensors.Any(t => !targetNames.Contains(t.Name));
                throw new ProbeException($"Weights in '{source}' do not fit the model: {PrefixHint(tensors, targetNames)}{string.Join("; ", problems)}."
                    + (namesDiffer ? $" The model expects: {Describe(module)}." : ""));
            }
            Problems(targets, fits[0].Under, out byName);
        }

        using var noGrad = no_grad();
        foreach (var (name, t) in targets)
        {
            using var scope = NewDisposeScope();
            var src = TensorDTypes.ToTensor(byName[name]);
            t.copy_(src);
        }
    }

    // What keeps the file's tensors from fitting the model exactly (names, shapes, duplicates); empty when they fit.
    static List<string> Problems(List<(string Name, Tensor Tensor)> targets, IReadOnlyList<RawTensor> tensors, out Dictionary<string, RawTensor> byName)
    {
        byName = new Dictionary<string, RawTensor>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var t in tensors)
            if (!byName.TryAdd(t.Name, t)) problems.Add($"'{t.Name}' appears twice");
        var targetNames = new HashSet<string>(targets.Select(t => t.Name), StringComparer.Ordinal);
        foreach (var (name, t) in targets)
        {
            if (!byName.TryGetValue(name, out var a)) { problems.Add($"missing '{name}' {SafeTensors.ShapeText(t.shape)}"); continue; }
            if (!a.Shape.SequenceEqual(t.shape))
                problems.Add($"'{name}' has shape {a.ShapeText} in the file but {SafeTensors.ShapeText(t.shape)} in the model");
        }
        foreach (var t in tensors)
            if (!targetNames.Contains(t.Name)) problems.Add($"unexpected '{t.Name}' {t.ShapeText}");
        return problems;
    }

    /// <summary>Prefixes longer than this many name components are not tried.</summary>
    const int MaxPrefixComponents = 4;

    /// <summary>
    /// The leading name components (<c>module.</c>, <c>model_state_dict.</c>, <c>state_dict.model.</c>) under which
    /// exactly <paramref name="count"/> of the file's tensors lie: where a wrapper's state dict (DataParallel's
    /// <c>module.</c>, a Lightning module's attribute, torch.compile's <c>_orig_mod.</c>) or a training checkpoint's
    /// entry may hold the model's own, in the order first met.
    /// </summary>
    static IEnumerable<string> Prefixes(IReadOnlyList<RawTensor> tensors, int count)
    {
        var under = new Dictionary<string, int>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var t in tensors)
            for (int dot = t.Name.IndexOf('.'), k = 1; dot > 0 && k <= MaxPrefixComponents; dot = t.Name.IndexOf('.', dot + 1), k++)
            {
                string prefix = t.Name[..(dot + 1)];
                if (under.TryAdd(prefix, 1)) order.Add(prefix);
                else under[prefix]++;
            }
        return order.Where(p => under[p] == count);
    }

    /// <summary>
    /// The shape of the model tensor <paramref name="name"/> (<c>fc.weight</c>) in a file's <see cref="ReadShapes"/>:
    /// under its own name, else under a prefix where <see cref="Assign(nn.Module, IReadOnlyList{RawTensor}, string)"/>
    /// may find the model's tensors (<c>module.fc.weight</c>, <c>model_state_dict.fc.weight</c>) when every such entry
    /// has the same shape; null when there is none or they disagree.
    /// </summary>
    public static long[]? ShapeIn(IReadOnlyDictionary<string, long[]> shapes, string name)
    {
        ArgumentNullException.ThrowIfNull(shapes);
        if (shapes.TryGetValue(name, out var exact)) return exact;
        var found = shapes.Where(kv => kv.Key.EndsWith("." + name, StringComparison.Ordinal)
                                       && kv.Key[..^(name.Length + 1)].Count(c => c == '.') < MaxPrefixComponents)
                          .Select(kv => kv.Value).ToList();
        return found.Count > 0 && found.All(f => f.SequenceEqual(found[0])) ? found[0] : null;
    }

    // The tensors whose names start with the prefix, named without it.
    static RawTensor[] Under(IReadOnlyList<RawTensor> tensors, string prefix) =>
        tensors.Where(t => t.Name.StartsWith(prefix, StringComparison.Ordinal)).Select(t => t with { Name = t.Name[prefix.Length..] }).ToArray();

    /// <summary>
    /// When every name in the file starts with the same first component and, without it, the names are the model's (a
    /// state dict saved from a wrapper such as DataParallel's <c>module.</c>), what to do about it; otherwise "".
    /// </summary>
    static string PrefixHint(IReadOnlyList<RawTensor> tensors, HashSet<string> targetNames)
    {
        if (tensors.Count == 0 || targetNames.Count == 0) return "";
        int dot = tensors[0].Name.IndexOf('.');
        if (dot <= 0) return "";
        string prefix = tensors[0].Name[..(dot + 1)];
        if (!tensors.All(t => t.Name.StartsWith(prefix, StringComparison.Ordinal))) return "";
        int matched = tensors.Count(t => targetNames.Contains(t.Name[prefix.Length..]));
        if (matched * 2 < targetNames.Count) return "";
        return prefix == "module."
            ? "every name in the file starts with 'module.', as a model wrapped in DataParallel or DistributedDataParallel saves them: save model.module.state_dict() instead, or strip the prefix. In detail: "
            : $"every name in the file starts with '{prefix}', which the model's names lack: save the inner model's state_dict(), or strip the prefix. In detail: ";
    }

    /// <summary>The model's tensor names and shapes, for messages: <c>fc1.weight [128, 64], ...</c>.</summary>
    public static string Describe(nn.Module module) =>
        string.Join(", ", StateTensors(module).Select(t => $"{t.Name} {SafeTensors.ShapeText(t.Tensor.shape)}"));

    static List<(string Name, Tensor Tensor)> StateTensors(nn.Module module)
    {
        var list = new List<(string, Tensor)>();
        foreach (var (name, p) in module.named_parameters()) list.Add((name, p));
        foreach (var (name, b) in module.named_buffers()) list.Add((name, b));
        return list;
    }
}
