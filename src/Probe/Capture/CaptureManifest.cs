using System.Text.Json;

namespace Probe.Capture;

/// <summary>
/// The <c>layers.json</c> that <c>probe capture</c> writes beside its <c>.npy</c> files, as read back: how feature maps
/// were reduced, each layer's name, module type, file and recorded per-sample output shape (in capture order), and the
/// data's class names (index = label in labels.npy), when the data had them.
/// </summary>
public sealed record CaptureManifest(MapReduction? Reduce, IReadOnlyList<CaptureManifest.Layer> Layers, IReadOnlyList<string>? Classes)
{
    /// <summary>The model input whose token mask the capture ran with (<c>tokenMask</c>); null when none.</summary>
    public string? TokenMask { get; init; }

    /// <summary>The file holding that mask's rows for the folder's samples (<c>tokenMaskFile</c>, see <see cref="Capture.TokenMask.FileName"/>); null when not recorded.</summary>
    public string? TokenMaskFile { get; init; }

    /// <summary>One captured layer: its file defaults to the sink's name for the layer.</summary>
    public sealed record Layer(string Name, string Type, string File, int[]? OutputShape)
    {
        /// <summary>The op type that decides the layout of a rank-2 output when it is not <see cref="Type"/> (see <see cref="LayerInfo.LayoutType"/>); null when absent.</summary>
        public string? Layout { get; init; }

        /// <summary>The activation the layer computes when <see cref="Type"/> does not say (see <see cref="LayerInfo.ActivationType"/>); null when absent.</summary>
        public string? Activation { get; init; }

        /// <summary>The model input whose token mask pooled the layer over real tokens only (see <see cref="LayerInfo.TokenMask"/>); null when absent.</summary>
        public string? TokenMask { get; init; }
    }

    /// <summary>The manifest's file name.</summary>
    public const string FileName = "layers.json";

    /// <summary>
    /// Reads <paramref name="dir"/>'s layers.json; null when there is none. A file that is not a capture's manifest (no
    /// "layers" array, a layer without a name) throws <see cref="ProbeException"/>, malformed JSON <see cref="JsonException"/>.
    /// </summary>
    public static CaptureManifest? Read(string dir)
    {
        string path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        if (!root.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array)
            throw new ProbeException($"'{path}' has no \"layers\" array; it is not a folder written by probe capture.");
        MapReduction? reduce = Str(root, "reduce") is string how && Enum.TryParse<MapReduction>(how, ignoreCase: true, out var r) ? r : null;
        var list = new List<Layer>();
        foreach (var l in layers.EnumerateArray())
        {
            string name = Str(l, "name") ?? throw new ProbeException($"'{path}': a layer without a name.");
            list.Add(new Layer(name, Str(l, "type") ?? "?", Str(l, "file") ?? NpySink.FileName(name), Shape(l, "outputShape")) { Layout = Str(l, "layout"), Activation = Str(l, "activation"), TokenMask = Str(l, "tokenMask") });
        }
        string[]? classes = root.TryGetProperty("classes", out var c) && c.ValueKind == JsonValueKind.Array
            ? c.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() ?? "" : e.ToString()).ToArray() : null;
        return new CaptureManifest(reduce, list, classes) { TokenMask = Str(root, "tokenMask"), TokenMaskFile = Str(root, "tokenMaskFile") };
    }

    static string? Str(JsonElement e, string key) =>
        e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    // An array of positive integers, or null (absent or anything else).
    static int[]? Shape(JsonElement e, string key)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind != JsonValueKind.Array) return null;
        var shape = new List<int>();
        foreach (var d in v.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int n) || n <= 0) return null;
            shape.Add(n);
        }
        return [.. shape];
    }
}
