using System.Collections;
using System.IO.Compression;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Probe.Models;

/// <summary>
/// Reads PyTorch state dicts saved with <c>torch.save(model.state_dict(), path)</c> (the zip format, PyTorch's
/// default since 1.6) through TorchSharp.PyBridge. Before anything is unpickled, the archive's <c>data.pkl</c> is
/// scanned (<see cref="PickleScanner"/>) and refused unless every global it names is one PyTorch's
/// <c>weights_only=True</c> loader allows: a pickle can run arbitrary code when it is loaded, and PyBridge has no such
/// switch (it turns unknown classes into dictionaries). The legacy non-zip format and a whole pickled model
/// (<c>torch.save(model)</c>) are refused with a message saying how to re-save.
/// </summary>
public static class PyTorchCheckpoint
{
    const string ResaveStateDict = "Re-save the weights in Python: torch.save(model.state_dict(), \"model.pt\") (or as safetensors: safetensors.torch.save_file(model.state_dict(), \"model.safetensors\")).";

    /// <summary>Extensions under which a bare pickle is taken for a PyTorch checkpoint (TorchSharp's own format can
    /// start with the same two bytes, so other extensions keep meaning TorchSharp's format).</summary>
    static readonly string[] PickleExtensions = [".pt", ".pth", ".pkl", ".ckpt", ".tar"];

    /// <summary>True when the file starts like a PyTorch checkpoint: a zip archive, or (under a PyTorch extension) a
    /// pickle, the legacy format.</summary>
    public static bool Looks(string path)
    {
        var head = Head(path, 4);
        return IsZip(head) || (IsPickle(head) && PickleExtensions.Contains(Path.GetExtension(path).ToLowerInvariant()));
    }

    static byte[] Head(string path, int n)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var b = new byte[n];
        int read = fs.ReadAtLeast(b, n, throwOnEndOfStream: false);
        return b[..read];
    }

    static bool IsZip(byte[] h) => h.Length >= 4 && h[0] == (byte)'P' && h[1] == (byte)'K' && h[2] == 3 && h[3] == 4;

    static bool IsPickle(byte[] h) => h.Length >= 2 && h[0] == 0x80 && h[1] is >= 2 and <= 5;

    /// <summary>
    /// Checks <paramref name="path"/> without unpickling it: a zip checkpoint whose <c>data.pkl</c> names only
    /// allowed globals passes; anything else throws a <see cref="ProbeException"/> naming what was found.
    /// </summary>
    public static void Check(string path)
    {
        if (!File.Exists(path)) throw new ProbeException($"Weights file '{path}' does not exist.");
        var head = Head(path, 4);
        if (IsPickle(head))
        {
            // A bare pickle: the legacy format starts with a pickled magic number; anything else is a raw pickle.
            var bytes = File.ReadAllBytes(path);
            var globals = PickleScanner.Globals(bytes, path, 0, out _);
            RefuseDisallowed(path, globals);
            throw new ProbeException($"'{path}' is a PyTorch checkpoint in the legacy (non-zip) format (torch.save before PyTorch 1.6, or _use_new_zipfile_serialization=False), which Probe cannot read. Re-save it in Python with a current PyTorch: torch.save(torch.load(\"{Path.GetFileName(path)}\"), \"model.pt\"); for a whole model, torch.save(model.state_dict(), \"model.pt\").");
        }
        if (!IsZip(head))
            throw new ProbeException($"'{path}' is not a PyTorch checkpoint (neither a zip archive nor a pickle).");
        byte[] pickle;
        try
        {
            using var zip = ZipFile.OpenRead(path);
            var entries = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1).ToList();
            if (entries.Count != 1)
                throw new ProbeException($"'{path}' is a zip archive but not a PyTorch checkpoint: it has {entries.Count} ARCHIVE/data.pkl entries, not one.");
            if (entries[0].Length > 1L << 30)
                throw new ProbeException($"'{path}': its data.pkl is {entries[0].Length} bytes, too large for a state dict.");
            using var s = entries[0].Open();
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            pickle = ms.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new ProbeException($"'{path}' is truncated or not a valid zip archive ({e.Message}); it cannot be a PyTorch checkpoint.", e);
        }
        RefuseDisallowed(path, PickleScanner.Globals(pickle, path, 0, out _));
    }

    static void RefuseDisallowed(string path, IReadOnlyList<string> globals)
    {
        var bad = globals.Where(g => !PickleScanner.IsAllowed(g)).ToList();
        if (bad.Count == 0) return;
        string named = string.Join(", ", bad.Take(8)) + (bad.Count > 8 ? $" and {bad.Count - 8} more" : "");
        bool dangerous = bad.Any(PickleScanner.IsDangerous);
        if (!dangerous && bad.Any(g => g.StartsWith("torch.nn.modules.", StringComparison.Ordinal) || g.StartsWith("torchvision.models.", StringComparison.Ordinal)))
            throw new ProbeException($"'{path}' holds a whole pickled model (torch.save(model)), not a state dict: its pickle names {named}. Probe loads only state dicts, and does not unpickle classes. {ResaveStateDict}");
        throw new ProbeException($"Refusing to load '{path}': its pickle names {named}, which PyTorch's torch.load(weights_only=True) does not allow (unpickling it could run code). Probe did not unpickle it. If you trust the file, load it in Python and save only the model's tensors: torch.save(model.state_dict(), \"model.pt\").");
    }

    /// <summary>
    /// Reads a state dict (after <see cref="Check"/>) as raw tensors in their stored element types. A checkpoint that
    /// nests dictionaries (the training checkpoint of PyTorch's tutorial, <c>{"epoch": 3, "model_state_dict": ...,
    /// "optimizer_state_dict": ...}</c>, or Lightning's <c>{"state_dict": ...}</c>) gives every tensor it holds under
    /// its dotted path (<c>model_state_dict.fc1.weight</c>); entries that are not tensors (numbers, strings, lists) are
    /// left out. <see cref="Weights.Assign(TorchSharp.torch.nn.Module, IReadOnlyList{RawTensor}, string)"/> then finds
    /// the model's tensors under the one prefix where they fit.
    /// </summary>
    public static IReadOnlyList<RawTensor> Read(string path)
    {
        Check(path);
        Hashtable table;
        try { table = PyTorchUnpickler.UnpickleStateDict(path); }
        catch (Exception e) when (e is not ProbeException)
        {
            // Tensors that are views (transposed, or slices sharing one storage) are what PyBridge cannot read: saving each
            // as its own contiguous copy is what helps, not saving the same state dict again.
            throw new ProbeException($"Could not read the PyTorch state dict '{path}' ({e.Message}). If any tensor is a view (transposed, or sharing its storage with another), save contiguous copies in Python: torch.save({{k: v.contiguous().clone() for k, v in model.state_dict().items()}}, \"model.pt\"), or as safetensors: safetensors.torch.save_file(model.state_dict(), \"model.safetensors\").", e);
        }
        var result = new List<RawTensor>();
        var tensors = new List<Tensor>();
        try
        {
            Flatten(table, "", 0, result, tensors, path);
        }
        finally
        {
            foreach (var t in tensors) t.Dispose();
        }
        if (result.Count == 0)
            throw new ProbeException($"'{path}' holds no tensors (entries: {string.Join(", ", table.Keys.Cast<object>().Select(k => k?.ToString() ?? "").Order(StringComparer.Ordinal).Take(8))}). Save the model's tensors: torch.save(model.state_dict(), \"model.pt\").");
        return result.OrderBy(r => r.Name, StringComparer.Ordinal).ToArray();
    }

    /// <summary>Nested dictionaries deeper than this are not searched for tensors.</summary>
    const int MaxDepth = 4;

    // Every tensor of a (nested) dictionary under its dotted path; every tensor met is added to `seen` for disposal.
    static void Flatten(IDictionary table, string prefix, int depth, List<RawTensor> into, List<Tensor> seen, string path)
    {
        foreach (DictionaryEntry e in table)
        {
            string name = prefix + (e.Key?.ToString() ?? "");
            if (e.Value is Tensor t)
            {
                seen.Add(t);
                into.Add(ToRaw(name, t, path));
            }
            else if (e.Value is IDictionary inner && depth < MaxDepth) Flatten(inner, name + ".", depth + 1, into, seen, path);
            else Unused(e.Value, seen);
        }
    }

    // The tensors of a value that is not searched (a list, such as Lightning's optimizer_states, or a deeper dictionary),
    // for disposal.
    static void Unused(object? value, List<Tensor> seen)
    {
        switch (value)
        {
            case Tensor t: seen.Add(t); break;
            case IDictionary d: foreach (DictionaryEntry e in d) Unused(e.Value, seen); break;
            case IEnumerable list and not string: foreach (var item in list) Unused(item, seen); break;
        }
    }

    internal static RawTensor ToRaw(string name, Tensor t, string source)
    {
        var dtype = TensorDTypes.FromScalarType(t.dtype)
            ?? throw new ProbeException($"'{source}': tensor '{name}' has element type {t.dtype}, which Probe does not read; convert it in Python (e.g. .float()).");
        using var c = t.detach().cpu().contiguous();
        var bytes = c.numel() == 0 ? [] : c.bytes.ToArray();
        return new RawTensor(name, dtype, c.shape.ToArray(), bytes);
    }
}

/// <summary>Maps safetensors element types to TorchSharp's and back, and makes tensors from raw bytes.</summary>
public static class TensorDTypes
{
    /// <summary>The TorchSharp element type of <paramref name="d"/>.</summary>
    public static ScalarType ToScalarType(SafeTensorsDType d) => d switch
    {
        SafeTensorsDType.F32 => ScalarType.Float32,
        SafeTensorsDType.F16 => ScalarType.Float16,
        SafeTensorsDType.BF16 => ScalarType.BFloat16,
        SafeTensorsDType.F64 => ScalarType.Float64,
        SafeTensorsDType.I64 => ScalarType.Int64,
        SafeTensorsDType.I32 => ScalarType.Int32,
        SafeTensorsDType.I16 => ScalarType.Int16,
        SafeTensorsDType.I8 => ScalarType.Int8,
        SafeTensorsDType.U8 => ScalarType.Byte,
        SafeTensorsDType.BOOL => ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(d)),
    };

    /// <summary>The safetensors element type of <paramref name="t"/>, or null when it has none Probe handles.</summary>
    public static SafeTensorsDType? FromScalarType(ScalarType t) => t switch
    {
        ScalarType.Float32 => SafeTensorsDType.F32,
        ScalarType.Float16 => SafeTensorsDType.F16,
        ScalarType.BFloat16 => SafeTensorsDType.BF16,
        ScalarType.Float64 => SafeTensorsDType.F64,
        ScalarType.Int64 => SafeTensorsDType.I64,
        ScalarType.Int32 => SafeTensorsDType.I32,
        ScalarType.Int16 => SafeTensorsDType.I16,
        ScalarType.Int8 => SafeTensorsDType.I8,
        ScalarType.Byte => SafeTensorsDType.U8,
        ScalarType.Bool => SafeTensorsDType.BOOL,
        _ => null,
    };

    /// <summary>A new CPU tensor holding a copy of <paramref name="r"/>'s bytes, in its element type.</summary>
    public static Tensor ToTensor(RawTensor r)
    {
        var t = empty(r.Shape, ToScalarType(r.DType));
        if (r.Data.Length > 0) t.bytes = r.Data;
        return t;
    }
}
