using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Models;

/// <summary>
/// Loads and saves a module's parameters and buffers. The format follows the file extension:
/// <c>.safetensors</c> is the safetensors format (interchangeable with Python; tensors named as in a PyTorch
/// state dict, e.g. <c>fc1.weight</c>); any other extension (<c>.dat</c>, <c>.bin</c>, ...) is TorchSharp's own
/// <c>Module.save</c> format. A PyTorch pickle/zip checkpoint (<c>.pt</c>, <c>.pth</c>) cannot be read: convert
/// it to safetensors in Python (<c>safetensors.torch.save_file(model.state_dict(), path)</c>).
/// </summary>
public static class Weights
{
    /// <summary>True when <paramref name="path"/> names a safetensors file (by extension).</summary>
    public static bool IsSafeTensors(string path) =>
        string.Equals(Path.GetExtension(path), ".safetensors", StringComparison.OrdinalIgnoreCase);

    /// <summary>Loads weights from <paramref name="path"/> into <paramref name="module"/>, strictly by name and shape.</summary>
    public static void Load(nn.Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (!File.Exists(path)) throw new ProbeException($"Weights file '{path}' does not exist.");
        if (IsSafeTensors(path))
        {
            var (tensors, _) = SafeTensors.Read(path);
            Assign(module, tensors, path);
            return;
        }
        RejectPyTorchPickle(path);
        try { module.load(path, strict: true); }
        catch (Exception e) when (e is not ProbeException)
        {
            throw new ProbeException($"Could not load TorchSharp weights from '{path}' into the model ({e.Message}). The model's tensors are: {Describe(module)}. Files with an extension other than .safetensors are read as TorchSharp's Module.save format.", e);
        }
    }

    /// <summary>Saves <paramref name="module"/>'s parameters and buffers to <paramref name="path"/> (safetensors as F32, or TorchSharp format).</summary>
    public static void Save(nn.Module module, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (IsSafeTensors(path))
        {
            SafeTensors.Write(path, Export(module), metadata);
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
            result.Add(new NamedArray(name, c.shape.ToArray(), c.data<float>().ToArray()));
        }
        return result;
    }

    /// <summary>
    /// Copies <paramref name="tensors"/> into the module's parameters and buffers by name. Strict: any missing
    /// name, unexpected name or shape mismatch throws one <see cref="ProbeException"/> listing every problem and the
    /// model's own names and shapes; nothing is changed then.
    /// </summary>
    public static void Assign(nn.Module module, IReadOnlyList<NamedArray> tensors, string source)
    {
        var targets = StateTensors(module);
        var byName = new Dictionary<string, NamedArray>(StringComparer.Ordinal);
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
        if (problems.Count > 0)
            throw new ProbeException($"Weights in '{source}' do not fit the model: {string.Join("; ", problems)}. The model expects: {Describe(module)}.");

        using var noGrad = no_grad();
        foreach (var (name, t) in targets)
        {
            using var scope = NewDisposeScope();
            var a = byName[name];
            var src = tensor(a.Data, a.Shape, dtype: t.dtype);
            t.copy_(src);
        }
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

    static void RejectPyTorchPickle(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        int n = fs.Read(head);
        if (n == 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] == 3 && head[3] == 4)
            throw new ProbeException($"'{path}' looks like a PyTorch (zip/pickle) checkpoint, which Probe cannot read. Save it as safetensors in Python: safetensors.torch.save_file(model.state_dict(), \"model.safetensors\").");
        if (n >= 1 && head[0] == 0x80 && (string.Equals(Path.GetExtension(path), ".pt", StringComparison.OrdinalIgnoreCase) || string.Equals(Path.GetExtension(path), ".pth", StringComparison.OrdinalIgnoreCase)))
            throw new ProbeException($"'{path}' looks like a legacy PyTorch pickle checkpoint, which Probe cannot read. Save it as safetensors in Python: safetensors.torch.save_file(model.state_dict(), \"model.safetensors\").");
    }
}
