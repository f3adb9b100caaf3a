using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Models;

/// <summary>The kinds of network a <see cref="ModelSpec"/> can describe.</summary>
public enum ModelKind { Mlp, Cnn, ResNet, TorchVision }

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
/// <item><c>resnet:DEPTH[:wWIDTH][:cCLASSES][:[C x]HxW]</c>: a ResNet (<see cref="ResNet"/>) of depth 18, 34, 50, 101
/// or 152 with torchvision's structure, module names and call order; <c>wWIDTH</c> is the base width (stem and
/// layer1 channels; layer2-4 double it; default 64), <c>cCLASSES</c> the number of outputs (default 1000), and the
/// input size is [C x] H x W (C defaults to 3; default 3x224x224). The options may come in any order. Examples:
/// <c>resnet:18</c> (= torchvision's resnet18), <c>resnet:18:w16:c10:32x32</c>. Canonical form
/// <c>resnet:18:w64:c1000:3x224x224</c>.</item>
/// <item><c>torchvision:NAME[:cCLASSES][:[C x]HxW]</c>: a torchvision architecture with PyTorch's module names and call
/// order; NAME is one of <see cref="TorchVisionModels.All"/> (resnet18/34/50/101/152, vgg11, vgg11_bn, vgg16,
/// vgg16_bn, alexnet, mobilenet_v2). <c>torchvision:resnet18</c> is <c>resnet:18</c> (width 64, 1000 classes,
/// input 3x224x224). Use <see cref="WithClassesFrom"/> to take the class count from a weights file.</item>
/// </list>
/// <para>Naming rule for mlp and cnn: Linear layers are <c>fc1, fc2, ...</c>, convolutions <c>conv1, ...</c>, poolings
/// <c>pool1, ...</c>; activations are named by their kind plus a running index over all activations of the
/// network (<c>relu1, relu2, ...</c>; <c>leaky_relu1</c>, <c>tanh1</c>, <c>sigmoid1</c>, <c>gelu1</c>).</para>
/// </summary>
public sealed class ModelSpec : IEquatable<ModelSpec>
{
    /// <summary>Activation names accepted in a spec.</summary>
    public static readonly IReadOnlyList<string> Activations = ["relu", "leaky_relu", "tanh", "sigmoid", "gelu"];

    public ModelKind Kind { get; }

    /// <summary>MLP: all layer widths, input first. CNN: conv1 channels, conv2 channels, fc1 width. ResNet: the base
    /// width. TorchVision: empty.</summary>
    public IReadOnlyList<int> Widths { get; }

    /// <summary>The activation kind (one of <see cref="Activations"/> for mlp and cnn; relu or relu6 for the others).</summary>
    public string Activation { get; }

    /// <summary>The number of outputs (classes).</summary>
    public int Outputs { get; }

    /// <summary>The ResNet depth (18, 34, 50, 101, 152) for resnet specs and torchvision resnets; 0 otherwise.</summary>
    public int Depth { get; }

    /// <summary>The torchvision architecture name (e.g. vgg11_bn) for torchvision specs; null otherwise.</summary>
    public string? Architecture { get; }

    /// <summary>The shape of one input sample the model expects: [inputs] for an MLP, [C, H, W] for the others.</summary>
    public int[] InputShape { get; }

    /// <summary>The number of values in one input sample (the product of <see cref="InputShape"/>).</summary>
    public int InputSize => InputShape.Aggregate(1, (a, b) => a * b);

    ModelSpec(ModelKind kind, IReadOnlyList<int> widths, string activation, int outputs, int[] inputShape, int depth = 0, string? architecture = null)
    {
        Kind = kind; Widths = widths; Activation = activation; Outputs = outputs; InputShape = inputShape;
        Depth = depth; Architecture = architecture;
    }

    /// <summary>The default input of the resnet and torchvision kinds: [3, 224, 224].</summary>
    public static IReadOnlyList<int> ImageNetInput { get; } = [3, 224, 224];

    /// <summary>A ResNet of <paramref name="depth"/> with base <paramref name="width"/> (64 = torchvision's).</summary>
    public static ModelSpec ResNet(int depth, int width = 64, int classes = 1000, IReadOnlyList<int>? input = null)
    {
        if (!Probe.Models.ResNet.Stages.ContainsKey(depth))
            throw new ProbeException($"ResNet depth {depth} is not supported; valid depths: {string.Join(", ", Probe.Models.ResNet.Stages.Keys)}.");
        if (width <= 0) throw new ProbeException($"ResNet width must be positive, got {width}.");
        if (classes <= 0) throw new ProbeException($"ResNet class count must be positive, got {classes}.");
        var shape = CheckImageInput(input ?? ImageNetInput, 1, $"resnet:{depth}");
        return new ModelSpec(ModelKind.ResNet, [width], "relu", classes, shape, depth);
    }

    /// <summary>The torchvision architecture <paramref name="name"/> (see <see cref="TorchVisionModels.All"/>).</summary>
    public static ModelSpec TorchVision(string name, int classes = 1000, IReadOnlyList<int>? input = null)
    {
        var arch = TorchVisionModels.Find(name);
        if (classes <= 0) throw new ProbeException($"torchvision:{arch.Name} class count must be positive, got {classes}.");
        var shape = CheckImageInput(input ?? ImageNetInput, arch.MinInputSize, "torchvision:" + arch.Name);
        if (TorchVisionModels.ResNetDepth(arch.Name) is not int && shape[0] != 3)
            throw new ProbeException($"torchvision:{arch.Name} takes 3-channel input, not {shape[0]}.");
        return new ModelSpec(ModelKind.TorchVision, [], arch.Activation, classes, shape, TorchVisionModels.ResNetDepth(arch.Name) ?? 0, arch.Name);
    }

    /// <summary>The same architecture with <paramref name="classes"/> outputs (an MLP's last width).</summary>
    public ModelSpec WithClasses(int classes)
    {
        if (classes == Outputs) return this;
        return Kind switch
        {
            ModelKind.Mlp => Mlp([.. Widths.Take(Widths.Count - 1), classes], Activation),
            ModelKind.Cnn => Cnn(InputShape[0], InputShape[1], InputShape[2], classes, Widths[0], Widths[1], Widths[2], Activation),
            ModelKind.ResNet => ResNet(Depth, Widths[0], classes, InputShape),
            _ => TorchVision(Architecture!, classes, InputShape),
        };
    }

    /// <summary>The name of the weight tensor whose first dimension is the number of classes (e.g. <c>fc.weight</c>).</summary>
    public string ClassifierWeight => Kind switch
    {
        ModelKind.Mlp => $"fc{Widths.Count - 1}.weight",
        ModelKind.Cnn => "fc2.weight",
        ModelKind.ResNet => "fc.weight",
        _ => TorchVisionModels.Find(Architecture!).ClassifierWeight,
    };

    /// <summary>
    /// The same architecture with the number of classes read from the weights file's last layer
    /// (<see cref="ClassifierWeight"/>'s first dimension), looking only at tensor shapes (safetensors header, sharded
    /// index, or a PyTorch state dict).
    /// </summary>
    public ModelSpec WithClassesFrom(string weightsPath)
    {
        var shapes = Weights.ReadShapes(weightsPath);
        string key = ClassifierWeight;
        if (Weights.ShapeIn(shapes, key) is not { } shape || shape.Length < 1 || shape[0] <= 0 || shape[0] > int.MaxValue)
            throw new ProbeException($"Weights '{weightsPath}' have no '{key}' tensor to read the number of classes of {this} from; its tensors start with: {string.Join(", ", shapes.Keys.Order(StringComparer.Ordinal).Take(8))}.");
        return WithClasses((int)shape[0]);
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
            case "resnet":
                {
                    if (parts.Length < 2)
                        throw new ProbeException($"Model spec '{text}': expected resnet:DEPTH[:wWIDTH][:cCLASSES][:[C x]HxW], for example resnet:18 or resnet:18:w16:c10:32x32.");
                    var depth = ParseInts(parts[1], '-', text, "depth");
                    if (depth.Length != 1)
                        throw new ProbeException($"Model spec '{text}': the depth '{parts[1]}' must be one of {string.Join(", ", Probe.Models.ResNet.Stages.Keys)}.");
                    var (width, classes, input) = ParseImageOptions(parts, 2, text, allowWidth: true);
                    return ResNet(depth[0], width ?? 64, classes ?? 1000, input);
                }
            case "torchvision":
                {
                    if (parts.Length < 2 || parts[1].Trim().Length == 0)
                        throw new ProbeException($"Model spec '{text}': expected torchvision:NAME[:cCLASSES][:[C x]HxW]; known names: {string.Join(", ", TorchVisionModels.All.Select(a => a.Name))}.");
                    var (_, classes, input) = ParseImageOptions(parts, 2, text, allowWidth: false);
                    return TorchVision(parts[1].Trim().ToLowerInvariant(), classes ?? 1000, input);
                }
            default:
                throw new ProbeException($"Model spec '{text}': unknown model kind '{parts[0]}'; valid kinds are mlp (e.g. mlp:64-128-10:relu), cnn (e.g. cnn:28x28:10), resnet (e.g. resnet:18:w16:c10:32x32) and torchvision (e.g. torchvision:resnet18; names: {string.Join(", ", TorchVisionModels.All.Select(a => a.Name))}).");
        }
    }

    /// <summary>
    /// Whether <paramref name="text"/> (a spec <see cref="Parse"/> accepts) names the number of outputs: always for mlp
    /// (its last width) and cnn (its CLASSES), for resnet and torchvision only with a <c>cCLASSES</c> option (without one
    /// they have ImageNet's 1000 outputs).
    /// </summary>
    public static bool NamesClasses(string text)
    {
        var kind = Parse(text).Kind;
        if (kind is ModelKind.Mlp or ModelKind.Cnn) return true;
        var parts = text.Trim().Split(':');
        return ParseImageOptions(parts, 2, text, allowWidth: kind == ModelKind.ResNet).Classes is not null;
    }

    /// <summary>The canonical text form, which <see cref="Parse"/> reads back to an equal spec.</summary>
    public override string ToString() => Kind switch
    {
        ModelKind.Mlp => $"mlp:{string.Join('-', Widths.Select(Inv))}:{Activation}",
        ModelKind.ResNet => $"resnet:{Inv(Depth)}:w{Inv(Widths[0])}:c{Inv(Outputs)}:{string.Join('x', InputShape.Select(Inv))}",
        ModelKind.TorchVision => $"torchvision:{Architecture}:c{Inv(Outputs)}:{string.Join('x', InputShape.Select(Inv))}",
        _ => $"cnn:{string.Join('x', InputShape.Select(Inv))}:{Inv(Outputs)}:{string.Join('-', Widths.Select(Inv))}:{Activation}",
    };

    public bool Equals(ModelSpec? other) => other is not null && ToString() == other.ToString();

    public override bool Equals(object? obj) => Equals(obj as ModelSpec);

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);

    /// <summary>
    /// The names of the model's children in forward order, as <see cref="Build"/> registers them.
    /// </summary>
    public IReadOnlyList<string> LayerNames => Kind switch
    {
        ModelKind.ResNet => TorchVisionModels.Find("resnet18").Children,
        ModelKind.TorchVision => TorchVisionModels.Find(Architecture!).Children,
        _ => Layers().Select(l => l.Name).ToArray(),
    };

    /// <summary>Builds the network with parameters initialised from <paramref name="seed"/> (torch.manual_seed).</summary>
    /// <remarks>
    /// Initialisation follows PyTorch's defaults for Linear and Conv2d (weights and biases uniform in
    /// +-1/sqrt(fan_in)) but draws from a private generator seeded with <paramref name="seed"/>, so concurrent
    /// users of torch's global generator (torch.manual_seed elsewhere, other threads) cannot change the result.
    /// </remarks>
    public nn.Module<Tensor, Tensor> Build(int seed)
    {
        if (Kind is ModelKind.ResNet or ModelKind.TorchVision)
        {
            var model = Kind == ModelKind.ResNet
                ? new ResNet(Depth, Widths[0], Outputs, InputShape)
                : TorchVisionModels.Create(Architecture!, Outputs, InputShape);
            try { SeededInit.Apply(model, seed); }
            catch { model.Dispose(); throw; }
            return model;
        }
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

    static int[] CheckImageInput(IReadOnlyList<int> input, int min, string what)
    {
        if (input.Count != 3 || input.Any(d => d <= 0))
            throw new ProbeException($"{what}: input shape [{string.Join(", ", input)}] must be three positive sizes C, H, W.");
        if (input[1] < min || input[2] < min)
            throw new ProbeException($"{what}: input {input[1]}x{input[2]} is too small; it needs at least {min}x{min}.");
        return input.ToArray();
    }

    /// <summary>Parses the options of resnet and torchvision specs: wWIDTH, cCLASSES and [C x]HxW, in any order.</summary>
    static (int? Width, int? Classes, int[]? Input) ParseImageOptions(string[] parts, int start, string text, bool allowWidth)
    {
        int? width = null, classes = null;
        int[]? input = null;
        string forms = allowWidth ? "wWIDTH, cCLASSES or [C x]HxW" : "cCLASSES or [C x]HxW";
        for (int i = start; i < parts.Length; i++)
        {
            string p = parts[i].Trim().ToLowerInvariant();
            if (p.Length > 1 && p[0] == 'w' && allowWidth && width is null)
                width = ParseOne(p[1..], text, "width");
            else if (p.Length > 1 && p[0] == 'c' && classes is null)
                classes = ParseOne(p[1..], text, "class count");
            else if (p.Length > 0 && char.IsDigit(p[0]) && p.Contains('x') && input is null)
            {
                var dims = ParseInts(p, 'x', text, "input size");
                if (dims.Length is not (2 or 3))
                    throw new ProbeException($"Model spec '{text}': the input size '{p}' must be HxW or CxHxW.");
                input = dims.Length == 3 ? dims : [3, dims[0], dims[1]];
            }
            else
                throw new ProbeException($"Model spec '{text}': option '{parts[i]}' is not one of {forms} (each at most once), for example {(allowWidth ? "resnet:18:w16:c10:32x32" : "torchvision:vgg11:c10:3x64x64")}.");
        }
        return (width, classes, input);
    }

    static int ParseOne(string s, string text, string what)
    {
        var v = ParseInts(s, '-', text, what);
        if (v.Length != 1) throw new ProbeException($"Model spec '{text}': the {what} '{s}' must be one positive integer.");
        return v[0];
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
