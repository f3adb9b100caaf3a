using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Models;

/// <summary>The kinds of network a <see cref="ModelSpec"/> can describe.</summary>
public enum ModelKind { Mlp, Cnn }

/// <summary>
/// A small network described by one line of text, built with PyTorch-style child names so that weights saved
/// from an equivalent PyTorch model (a state dict as safetensors) load by name.
/// <para>Text forms (the activation is optional and defaults to relu):</para>
/// <list type="bullet">
/// <item><c>mlp:64-128-64-32-10[:relu]</c>: input width, hidden widths, output width. Children
/// <c>fc1 relu1 fc2 relu2 ... fcK</c> (no activation after the last Linear).</item>
/// <item><c>cnn:8x8:10[:8-16-64][:relu]</c> or <c>cnn:1x28x28:10</c>: input [C x] H x W (C defaults to 1),
/// class count, optionally the channels of conv1, conv2 and the width of fc1 (default 8-16-64).
/// Children <c>conv1 relu1 pool1 conv2 relu2 pool2 fc1 relu3 fc2</c>: 3x3 convolutions with padding 1, 2x2 max
/// pooling, a flatten between pool2 and fc1 done inside forward (not a child).</item>
/// </list>
/// <para>Naming rule: Linear layers are <c>fc1, fc2, ...</c>, convolutions <c>conv1, ...</c>, poolings
/// <c>pool1, ...</c>; activations are named by their kind plus a running index over all activations of the
/// network (<c>relu1, relu2, ...</c>; <c>leaky_relu1</c>, <c>tanh1</c>, <c>sigmoid1</c>, <c>gelu1</c>).</para>
/// </summary>
public sealed class ModelSpec : IEquatable<ModelSpec>
{
    /// <summary>Activation names accepted in a spec.</summary>
    public static readonly IReadOnlyList<string> Activations = ["relu", "leaky_relu", "tanh", "sigmoid", "gelu"];

    public ModelKind Kind { get; }

    /// <summary>MLP: all layer widths, input first. CNN: conv1 channels, conv2 channels, fc1 width.</summary>
    public IReadOnlyList<int> Widths { get; }

    /// <summary>The activation kind (one of <see cref="Activations"/>).</summary>
    public string Activation { get; }

    /// <summary>The number of outputs (classes).</summary>
    public int Outputs { get; }

    /// <summary>The shape of one input sample: [inputs] for an MLP, [C, H, W] for a CNN.</summary>
    public int[] InputShape { get; }

    /// <summary>The number of values in one input sample (the product of <see cref="InputShape"/>).</summary>
    public int InputSize => InputShape.Aggregate(1, (a, b) => a * b);

    ModelSpec(ModelKind kind, IReadOnlyList<int> widths, string activation, int outputs, int[] inputShape)
    {
        Kind = kind; Widths = widths; Activation = activation; Outputs = outputs; InputShape = inputShape;
    }

    /// <summary>An MLP with the given layer widths (input first, output last).</summary>
    public static ModelSpec Mlp(IReadOnlyList<int> widths, string activation = "relu")
    {
        if (widths.Count < 2)
            throw new ProbeException($"An MLP needs at least two widths (input and output), got {widths.Count}; for example mlp:64-128-10:relu.");
        for (int i = 0; i < widths.Count; i++)
            if (widths[i] <= 0) throw new ProbeException($"MLP width {i + 1} is {widths[i]}; every width must be a positive integer.");
        CheckActivation(activation);
        return new ModelSpec(ModelKind.Mlp, widths.ToArray(), activation, widths[^1], [widths[0]]);
    }

    /// <summary>A two-convolution CNN for [channels, height, width] inputs.</summary>
    public static ModelSpec Cnn(int channels, int height, int width, int classes, int conv1 = 8, int conv2 = 16, int hidden = 64, string activation = "relu")
    {
        if (channels <= 0 || height <= 0 || width <= 0)
            throw new ProbeException($"CNN input {channels}x{height}x{width}: every size must be positive.");
        if (height < 4 || width < 4)
            throw new ProbeException($"CNN input {height}x{width} is too small: two 2x2 poolings need at least 4x4.");
        if (classes <= 0) throw new ProbeException($"CNN class count must be positive, got {classes}.");
        if (conv1 <= 0 || conv2 <= 0 || hidden <= 0)
            throw new ProbeException($"CNN widths {conv1}-{conv2}-{hidden}: every width must be positive.");
        CheckActivation(activation);
        return new ModelSpec(ModelKind.Cnn, [conv1, conv2, hidden], activation, classes, [channels, height, width]);
    }

    /// <summary>Parses the text form (see the type's summary); throws <see cref="ProbeException"/> on errors.</summary>
    public static ModelSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Trim().Split(':');
        string kind = parts[0].Trim().ToLowerInvariant();
        switch (kind)
        {
            case "mlp":
                {
                    if (parts.Length < 2 || parts.Length > 3)
                        throw new ProbeException($"Model spec '{text}': expected mlp:WIDTHS[:ACTIVATION], for example mlp:64-128-64-32-10:relu.");
                    var widths = ParseInts(parts[1], '-', text, "widths");
                    string act = parts.Length == 3 ? parts[2].Trim().ToLowerInvariant() : "relu";
                    return Mlp(widths, act);
                }
            case "cnn":
                {
                    if (parts.Length < 3 || parts.Length > 5)
                        throw new ProbeException($"Model spec '{text}': expected cnn:[C x]HxW:CLASSES[:C1-C2-HIDDEN][:ACTIVATION], for example cnn:28x28:10 or cnn:1x8x8:10:8-16-64:relu.");
                    var dims = ParseInts(parts[1], 'x', text, "input size");
                    if (dims.Length is not (2 or 3))
                        throw new ProbeException($"Model spec '{text}': the input size '{parts[1]}' must be HxW or CxHxW.");
                    int c = dims.Length == 3 ? dims[0] : 1, h = dims[^2], w = dims[^1];
                    var classes = ParseInts(parts[2], '-', text, "class count");
                    if (classes.Length != 1)
                        throw new ProbeException($"Model spec '{text}': the class count '{parts[2]}' must be one integer.");
                    int[] widths = [8, 16, 64];
                    string act = "relu";
                    for (int i = 3; i < parts.Length; i++)
                    {
                        string p = parts[i].Trim().ToLowerInvariant();
                        if (p.Length > 0 && char.IsDigit(p[0]))
                        {
                            widths = ParseInts(p, '-', text, "CNN widths");
                            if (widths.Length != 3)
                                throw new ProbeException($"Model spec '{text}': CNN widths '{p}' must be three integers C1-C2-HIDDEN (conv1 channels, conv2 channels, fc1 width).");
                        }
                        else act = p;
                    }
                    return Cnn(c, h, w, classes[0], widths[0], widths[1], widths[2], act);
                }
            default:
                throw new ProbeException($"Model spec '{text}': unknown model kind '{parts[0]}'; valid kinds are mlp (e.g. mlp:64-128-10:relu) and cnn (e.g. cnn:28x28:10).");
        }
    }

    /// <summary>The canonical text form, which <see cref="Parse"/> reads back to an equal spec.</summary>
    public override string ToString() => Kind switch
    {
        ModelKind.Mlp => $"mlp:{string.Join('-', Widths.Select(Inv))}:{Activation}",
        _ => $"cnn:{string.Join('x', InputShape.Select(Inv))}:{Inv(Outputs)}:{string.Join('-', Widths.Select(Inv))}:{Activation}",
    };

    public bool Equals(ModelSpec? other) => other is not null && ToString() == other.ToString();

    public override bool Equals(object? obj) => Equals(obj as ModelSpec);

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);

    /// <summary>
    /// The names of the model's children in forward order, as <see cref="Build"/> registers them.
    /// </summary>
    public IReadOnlyList<string> LayerNames => Layers().Select(l => l.Name).ToArray();

    /// <summary>Builds the network with parameters initialised from <paramref name="seed"/> (torch.manual_seed).</summary>
    /// <remarks>
    /// Initialisation follows PyTorch's defaults for Linear and Conv2d (weights and biases uniform in
    /// +-1/sqrt(fan_in)) but draws from a private generator seeded with <paramref name="seed"/>, so concurrent
    /// users of torch's global generator (torch.manual_seed elsewhere, other threads) cannot change the result.
    /// </remarks>
    public nn.Module<Tensor, Tensor> Build(int seed)
    {
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        foreach (var l in Layers()) layers.Add((l.Name, l.Create()));
        using var gen = new torch.Generator((ulong)(uint)seed);
        using (torch.no_grad())
        {
            foreach (var (_, module) in layers)
            {
                var weight = module.named_parameters().Where(p => p.name == "weight").Select(p => p.parameter).FirstOrDefault();
                if (weight is null) continue;
                long fanIn = weight.numel() / weight.shape[0];
                double bound = 1.0 / Math.Sqrt(fanIn);
                foreach (var (_, p) in module.named_parameters()) p.uniform_(-bound, bound, gen);
            }
        }
        return new ProbeNet(this, layers, Kind == ModelKind.Cnn ? "fc1" : null);
    }

    internal sealed record LayerPlan(string Name, Func<nn.Module<Tensor, Tensor>> Create);

    IEnumerable<LayerPlan> Layers()
    {
        int act = 0;
        LayerPlan Act() { act++; string a = Activation; return new LayerPlan(a + Inv(act), () => MakeActivation(a)); }
        if (Kind == ModelKind.Mlp)
        {
            for (int i = 0; i + 1 < Widths.Count; i++)
            {
                int inF = Widths[i], outF = Widths[i + 1];
                yield return new LayerPlan("fc" + Inv(i + 1), () => nn.Linear(inF, outF));
                if (i + 2 < Widths.Count) yield return Act();
            }
        }
        else
        {
            int c = InputShape[0], h = InputShape[1], w = InputShape[2];
            int c1 = Widths[0], c2 = Widths[1], hidden = Widths[2];
            int flat = c2 * (h / 2 / 2) * (w / 2 / 2);
            yield return new LayerPlan("conv1", () => nn.Conv2d(c, c1, 3, padding: 1));
            yield return Act();
            yield return new LayerPlan("pool1", () => nn.MaxPool2d(2));
            yield return new LayerPlan("conv2", () => nn.Conv2d(c1, c2, 3, padding: 1));
            yield return Act();
            yield return new LayerPlan("pool2", () => nn.MaxPool2d(2));
            yield return new LayerPlan("fc1", () => nn.Linear(flat, hidden));
            yield return Act();
            yield return new LayerPlan("fc2", () => nn.Linear(hidden, Outputs));
        }
    }

    static nn.Module<Tensor, Tensor> MakeActivation(string kind) => kind switch
    {
        "relu" => nn.ReLU(),
        "leaky_relu" => nn.LeakyReLU(0.01),
        "tanh" => nn.Tanh(),
        "sigmoid" => nn.Sigmoid(),
        "gelu" => nn.GELU(),
        _ => throw new ProbeException($"Unknown activation '{kind}'; valid activations: {string.Join(", ", Activations)}."),
    };

    static void CheckActivation(string activation)
    {
        if (!Activations.Contains(activation))
            throw new ProbeException($"Unknown activation '{activation}'; valid activations: {string.Join(", ", Activations)}.");
    }

    static int[] ParseInts(string s, char sep, string text, string what)
    {
        var items = s.Split(sep);
        var result = new int[items.Length];
        for (int i = 0; i < items.Length; i++)
        {
            if (!int.TryParse(items[i].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out result[i]) || result[i] <= 0)
                throw new ProbeException($"Model spec '{text}': {what} '{s}' must be positive integers separated by '{sep}' ('{items[i]}' is not).");
        }
        return result;
    }

    static string Inv(int v) => v.ToString(CultureInfo.InvariantCulture);
}
