using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Probe.Models;

/// <summary>
/// A ResNet with torchvision's exact structure, module names and call order (He et al., "Deep Residual Learning for
/// Image Recognition", CVPR 2016; torchvision.models.resnet), with a configurable base width: width 64 is
/// torchvision's resnet18/34/50/101/152 key for key. Children in registration and call order:
/// <c>conv1 bn1 relu maxpool layer1 layer2 layer3 layer4 avgpool fc</c>; a flatten between avgpool and fc happens
/// inside forward (as in PyTorch). Each <c>layerK</c> is a Sequential of blocks <c>0, 1, ...</c>.
/// <para>Every child runs through <c>call()</c>, so forward hooks fire exactly where PyTorch's hooks fire. Each block
/// reuses ONE in-place <c>relu</c> module: twice in a <see cref="BasicBlock"/> (the second call after
/// <c>out += identity</c>), three times in a <see cref="Bottleneck"/>. resnet18 therefore makes 17 ReLU calls.</para>
/// <para>Input: [N, C, H, W] (or [N, C*H*W], reshaped to <see cref="InputShape"/>). Any H, W of at least 1 works:
/// the average pooling is adaptive.</para>
/// </summary>
public sealed class ResNet : nn.Module<Tensor, Tensor>
{
    readonly Conv2d conv1;
    readonly BatchNorm2d bn1;
    readonly ReLU relu;
    readonly MaxPool2d maxpool;
    readonly Sequential layer1, layer2, layer3, layer4;
    readonly AdaptiveAvgPool2d avgpool;
    readonly Linear fc;
    readonly int[] _inputShape;

    /// <summary>Blocks per stage of each supported depth (torchvision's table).</summary>
    public static readonly IReadOnlyDictionary<int, int[]> Stages = new Dictionary<int, int[]>
    {
        [18] = [2, 2, 2, 2],
        [34] = [3, 4, 6, 3],
        [50] = [3, 4, 6, 3],
        [101] = [3, 4, 23, 3],
        [152] = [3, 8, 36, 3],
    };

    /// <summary>True when the depth uses <see cref="Bottleneck"/> blocks (50 and deeper).</summary>
    public static bool UsesBottleneck(int depth) => depth >= 50;

    /// <summary>Builds a ResNet of <paramref name="depth"/> (18, 34, 50, 101, 152) with stage widths
    /// <paramref name="width"/> x (1, 2, 4, 8), for inputs of <paramref name="inputShape"/> [C, H, W].</summary>
    public ResNet(int depth, int width, int classes, int[] inputShape) : base("ResNet")
    {
        if (!Stages.TryGetValue(depth, out var blocks))
            throw new ProbeException($"ResNet depth {depth} is not supported; valid depths: {string.Join(", ", Stages.Keys)}.");
        _inputShape = inputShape.ToArray();
        bool bottleneck = UsesBottleneck(depth);
        int expansion = bottleneck ? 4 : 1;
        conv1 = nn.Conv2d(inputShape[0], width, 7, stride: 2, padding: 3, bias: false);
        bn1 = nn.BatchNorm2d(width);
        relu = nn.ReLU(inplace: true);
        maxpool = nn.MaxPool2d(3, stride: 2, padding: 1);
        int inplanes = width;
        Sequential Stage(int planes, int count, int stride)
        {
            var list = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int i = 0; i < count; i++)
            {
                int s = i == 0 ? stride : 1;
                Sequential? downsample = null;
                if (i == 0 && (s != 1 || inplanes != planes * expansion))
                    downsample = nn.Sequential(
                        ("0", (nn.Module<Tensor, Tensor>)nn.Conv2d(inplanes, planes * expansion, 1, stride: s, bias: false)),
                        ("1", nn.BatchNorm2d(planes * expansion)));
                list.Add((i.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    bottleneck ? new Bottleneck(inplanes, planes, s, downsample) : new BasicBlock(inplanes, planes, s, downsample)));
                inplanes = planes * expansion;
            }
            return nn.Sequential(list);
        }
        layer1 = Stage(width, blocks[0], 1);
        layer2 = Stage(width * 2, blocks[1], 2);
        layer3 = Stage(width * 4, blocks[2], 2);
        layer4 = Stage(width * 8, blocks[3], 2);
        avgpool = nn.AdaptiveAvgPool2d([1, 1]);
        fc = nn.Linear(width * 8 * expansion, classes);
        // Registration order = PyTorch's __init__ order, so named_modules() and state_dict() list the same order.
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        register_module("relu", relu);
        register_module("maxpool", maxpool);
        register_module("layer1", layer1);
        register_module("layer2", layer2);
        register_module("layer3", layer3);
        register_module("layer4", layer4);
        register_module("avgpool", avgpool);
        register_module("fc", fc);
    }

    /// <summary>The [C, H, W] shape of one input sample.</summary>
    public IReadOnlyList<int> InputShape => _inputShape;

    public override Tensor forward(Tensor input)
    {
        var x = input;
        if (x.dim() == 2 && x.shape[1] == _inputShape[0] * (long)_inputShape[1] * _inputShape[2])
            x = x.reshape(x.shape[0], _inputShape[0], _inputShape[1], _inputShape[2]);
        else if (x.dim() != 4)
            throw new ProbeException($"ResNet expects input of shape [N, {string.Join(", ", _inputShape)}]; got [{string.Join(", ", x.shape)}].");
        x = Step(x, conv1.call(x), input);
        x = Step(x, bn1.call(x), input);
        x = Step(x, relu.call(x), input);
        x = Step(x, maxpool.call(x), input);
        x = Step(x, layer1.call(x), input);
        x = Step(x, layer2.call(x), input);
        x = Step(x, layer3.call(x), input);
        x = Step(x, layer4.call(x), input);
        x = Step(x, avgpool.call(x), input);
        x = Step(x, x.flatten(1), input);
        return Step(x, fc.call(x), input);
    }

    /// <summary>Disposes the wrapper <paramref name="old"/> once <paramref name="next"/> replaces it, unless it is the
    /// caller's input. In-place modules return a new wrapper over the same storage, which stays alive.</summary>
    internal static Tensor Step(Tensor old, Tensor next, Tensor keep)
    {
        if (!ReferenceEquals(old, next) && !ReferenceEquals(old, keep)) old.Dispose();
        return next;
    }
}

/// <summary>
/// torchvision's BasicBlock: <c>conv1 bn1 relu conv2 bn2 [downsample] (+identity) relu</c>, the same in-place
/// <c>relu</c> module called twice. Children: <c>conv1 bn1 relu conv2 bn2</c> and <c>downsample</c> (Sequential of a
/// 1x1 strided conv <c>0</c> and a BatchNorm <c>1</c>) when the shape changes.
/// </summary>
public sealed class BasicBlock : nn.Module<Tensor, Tensor>
{
    readonly Conv2d conv1, conv2;
    readonly BatchNorm2d bn1, bn2;
    readonly ReLU relu;
    readonly Sequential? downsample;

    public BasicBlock(int inplanes, int planes, int stride, Sequential? downsample) : base("BasicBlock")
    {
        conv1 = nn.Conv2d(inplanes, planes, 3, stride: stride, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(planes);
        relu = nn.ReLU(inplace: true);
        conv2 = nn.Conv2d(planes, planes, 3, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(planes);
        this.downsample = downsample;
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        register_module("relu", relu);
        register_module("conv2", conv2);
        register_module("bn2", bn2);
        if (downsample is not null) register_module("downsample", downsample);
    }

    public override Tensor forward(Tensor x)
    {
        var o = conv1.call(x);
        o = ResNet.Step(o, bn1.call(o), x);
        o = ResNet.Step(o, relu.call(o), x);
        o = ResNet.Step(o, conv2.call(o), x);
        o = ResNet.Step(o, bn2.call(o), x);
        var identity = downsample is null ? x : downsample.call(x);
        o.add_(identity); // in place, as PyTorch's `out += identity`
        if (!ReferenceEquals(identity, x)) identity.Dispose();
        return ResNet.Step(o, relu.call(o), x);
    }
}

/// <summary>
/// torchvision's Bottleneck (ResNet v1.5: the stride sits on the 3x3 conv2): <c>conv1 bn1 relu conv2 bn2 relu conv3
/// bn3 [downsample] (+identity) relu</c>, one in-place <c>relu</c> module called three times. The inner width equals
/// <c>planes</c> (torchvision's base_width 64, groups 1); the output has <c>4 * planes</c> channels.
/// </summary>
public sealed class Bottleneck : nn.Module<Tensor, Tensor>
{
    readonly Conv2d conv1, conv2, conv3;
    readonly BatchNorm2d bn1, bn2, bn3;
    readonly ReLU relu;
    readonly Sequential? downsample;

    public Bottleneck(int inplanes, int planes, int stride, Sequential? downsample) : base("Bottleneck")
    {
        conv1 = nn.Conv2d(inplanes, planes, 1, bias: false);
        bn1 = nn.BatchNorm2d(planes);
        conv2 = nn.Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(planes);
        conv3 = nn.Conv2d(planes, planes * 4, 1, bias: false);
        bn3 = nn.BatchNorm2d(planes * 4);
        relu = nn.ReLU(inplace: true);
        this.downsample = downsample;
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        register_module("conv2", conv2);
        register_module("bn2", bn2);
        register_module("conv3", conv3);
        register_module("bn3", bn3);
        register_module("relu", relu);
        if (downsample is not null) register_module("downsample", downsample);
    }

    public override Tensor forward(Tensor x)
    {
        var o = conv1.call(x);
        o = ResNet.Step(o, bn1.call(o), x);
        o = ResNet.Step(o, relu.call(o), x);
        o = ResNet.Step(o, conv2.call(o), x);
        o = ResNet.Step(o, bn2.call(o), x);
        o = ResNet.Step(o, relu.call(o), x);
        o = ResNet.Step(o, conv3.call(o), x);
        o = ResNet.Step(o, bn3.call(o), x);
        var identity = downsample is null ? x : downsample.call(x);
        o.add_(identity);
        if (!ReferenceEquals(identity, x)) identity.Dispose();
        return ResNet.Step(o, relu.call(o), x);
    }
}
