using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Models;

/// <summary>
/// The torchvision architectures Probe builds, by their torchvision name. The ResNets are Probe's own
/// <see cref="ResNet"/> (the TorchVision package's blocks apply the second ReLU as a function, which no hook sees);
/// VGG, AlexNet and MobileNetV2 come from the TorchVision 0.107.0 package, whose module names and call order equal
/// PyTorch's (checked against torchvision 0.14's forward hooks in the Models tests).
/// </summary>
public static class TorchVisionModels
{
    /// <summary>One architecture: its default input, the name of its last (class) layer and its top-level children.</summary>
    public sealed record Architecture(string Name, int MinInputSize, string ClassifierWeight, IReadOnlyList<string> Children, string Activation);

    static readonly string[] ResNetChildren = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"];
    static readonly string[] VggChildren = ["features", "avgpool", "classifier"];

    /// <summary>The supported names, in the order error messages list them.</summary>
    public static readonly IReadOnlyList<Architecture> All =
    [
        new("resnet18", 1, "fc.weight", ResNetChildren, "relu"),
        new("resnet34", 1, "fc.weight", ResNetChildren, "relu"),
        new("resnet50", 1, "fc.weight", ResNetChildren, "relu"),
        new("resnet101", 1, "fc.weight", ResNetChildren, "relu"),
        new("resnet152", 1, "fc.weight", ResNetChildren, "relu"),
        new("vgg11", 32, "classifier.6.weight", VggChildren, "relu"),
        new("vgg11_bn", 32, "classifier.6.weight", VggChildren, "relu"),
        new("vgg16", 32, "classifier.6.weight", VggChildren, "relu"),
        new("vgg16_bn", 32, "classifier.6.weight", VggChildren, "relu"),
        new("alexnet", 63, "classifier.6.weight", VggChildren, "relu"),
        new("mobilenet_v2", 1, "classifier.1.weight", ["features", "classifier"], "relu6"),
    ];

    /// <summary>The architecture called <paramref name="name"/> (case-insensitive), or a ProbeException listing the known ones.</summary>
    public static Architecture Find(string name) =>
        All.FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ProbeException($"Unknown torchvision model '{name}'; known: {string.Join(", ", All.Select(a => a.Name))}.");

    /// <summary>The ResNet depth of a torchvision resnet name (resnet18 -> 18), or null for other architectures.</summary>
    public static int? ResNetDepth(string name) =>
        name.StartsWith("resnet", StringComparison.Ordinal) ? int.Parse(name.AsSpan(6), System.Globalization.CultureInfo.InvariantCulture) : null;

    /// <summary>Builds <paramref name="name"/> with <paramref name="classes"/> outputs (parameters not yet seeded).</summary>
    internal static nn.Module<Tensor, Tensor> Create(string name, int classes, int[] inputShape)
    {
        if (ResNetDepth(name) is int depth) return new ResNet(depth, 64, classes, inputShape);
        if (inputShape[0] != 3)
            throw new ProbeException($"torchvision:{name} takes 3-channel input, not {inputShape[0]}.");
        return name switch
        {
            "vgg11" => torchvision.models.vgg11(num_classes: classes),
            "vgg11_bn" => torchvision.models.vgg11_bn(num_classes: classes),
            "vgg16" => torchvision.models.vgg16(num_classes: classes),
            "vgg16_bn" => torchvision.models.vgg16_bn(num_classes: classes),
            "alexnet" => torchvision.models.alexnet(num_classes: classes),
            "mobilenet_v2" => torchvision.models.mobilenet_v2(num_classes: classes),
            _ => throw new ProbeException($"Unknown torchvision model '{name}'; known: {string.Join(", ", All.Select(a => a.Name))}."),
        };
    }
}

/// <summary>
/// Seeded parameter initialisation from a private generator (so other users of torch's global generator cannot change
/// the result), following torchvision's ResNet scheme: convolution weights normal with std sqrt(2 / fan_out) (He et
/// al. 2015, "Delving Deep into Rectifiers", mode fan_out), convolution biases zero; BatchNorm weight 1, bias 0,
/// running statistics 0 / 1 and counter 0; Linear weight and bias uniform in +-1/sqrt(fan_in) (PyTorch's default).
/// </summary>
internal static class SeededInit
{
    public static void Apply(nn.Module model, int seed)
    {
        using var gen = new torch.Generator((ulong)(uint)seed);
        using var noGrad = torch.no_grad();
        foreach (var (_, m) in model.named_modules())
        {
            switch (m)
            {
                case TorchSharp.Modules.Conv2d conv:
                    {
                        var w = conv.weight!;
                        long fanOut = w.shape[0] * w.shape[2] * w.shape[3];
                        w.normal_(0, Math.Sqrt(2.0 / fanOut), gen);
                        conv.bias?.zero_();
                        break;
                    }
                case TorchSharp.Modules.BatchNorm2d bn:
                    bn.weight?.fill_(1);
                    bn.bias?.zero_();
                    bn.running_mean?.zero_();
                    bn.running_var?.fill_(1);
                    bn.num_batches_tracked?.zero_();
                    break;
                case TorchSharp.Modules.Linear lin:
                    {
                        double bound = 1.0 / Math.Sqrt(lin.weight!.shape[1]);
                        lin.weight.uniform_(-bound, bound, gen);
                        lin.bias?.uniform_(-bound, bound, gen);
                        break;
                    }
            }
        }
    }
}
