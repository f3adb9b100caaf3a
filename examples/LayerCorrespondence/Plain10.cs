using System.Globalization;
using Probe;
using Probe.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCorrespondence;

/// <summary>
/// A plain (no skip connections) 10-layer CNN after Kornblith et al. 2019's "plain-10" (their CIFAR-10 networks for
/// Table 2): eight convolution-BatchNorm-ReLU blocks, 3x3 except the last (1x1), at width w for the first three and
/// 2w for the rest, with stride 2 at the third and sixth; then global average pooling and a linear classifier.
/// Kornblith et al. use w = 96 on 32x32 CIFAR-10; here w is a setting (16 by default, so five networks train on a
/// 2-core CPU). The compared layers are the eight ReLU outputs and the logits (nine, as in their table). Each block's
/// modules are children run through <c>call()</c>, so capture hooks fire.
/// </summary>
public sealed class Plain10 : nn.Module<Tensor, Tensor>
{
    /// <summary>The layers compared: relu1..relu8 and the logits.</summary>
    public static readonly string[] Layers = ["relu1", "relu2", "relu3", "relu4", "relu5", "relu6", "relu7", "relu8", "fc"];

    private readonly List<(string Name, nn.Module<Tensor, Tensor> Module)> _blocks = new();
    private readonly nn.Module<Tensor, Tensor> _fc;
    private readonly long[] _shape;

    public Plain10(int channels, int height, int width, int classes, int w, int seed) : base("Plain10")
    {
        torch.manual_seed(seed);
        _shape = [channels, height, width];
        int[] outs = [w, w, w, 2 * w, 2 * w, 2 * w, 2 * w, 2 * w];
        int[] strides = [1, 1, 2, 1, 1, 2, 1, 1];
        int cin = channels;
        for (int i = 0; i < 8; i++)
        {
            int kernel = i == 7 ? 1 : 3;
            _blocks.Add(($"conv{i + 1}", nn.Conv2d(cin, outs[i], kernel, stride: strides[i], padding: kernel / 2, bias: false)));
            _blocks.Add(($"bn{i + 1}", nn.BatchNorm2d(outs[i])));
            _blocks.Add(($"relu{i + 1}", nn.ReLU()));
            cin = outs[i];
        }
        _fc = nn.Linear(cin, classes);
        foreach (var (name, module) in _blocks) register_module(name, module);
        register_module("fc", _fc);
    }

    /// <summary>The mean training loss of the last epoch of <see cref="Fit"/>.</summary>
    public double LastLoss { get; private set; } = double.NaN;

    /// <summary>"plain10:1x28x28:w16" for the log.</summary>
    public static string Describe(int channels, int height, int width, int w) =>
        string.Create(CultureInfo.InvariantCulture, $"plain10:{channels}x{height}x{width}:w{w}");

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input.reshape(input.shape[0], _shape[0], _shape[1], _shape[2]);
        foreach (var (_, module) in _blocks) x = module.call(x);
        x = x.mean([2L, 3L]);
        return _fc.call(x).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Trains with Adam (lr 1e-3, batches of 64, a seeded shuffle per epoch) on cross-entropy and returns the accuracy
    /// on <paramref name="test"/>.
    /// </summary>
    public double Fit(Dataset train, Dataset test, int epochs, int seed)
    {
        if (train.Labels is null || test.Labels is null) throw new ProbeException("plain10 needs a labelled data set.");
        var optimizer = optim.Adam(parameters(), 1e-3);
        var rng = new Random(seed);
        int n = train.Count, d = train.Features.Cols, batch = 64;
        var order = Enumerable.Range(0, n).ToArray();
        for (int e = 0; e < epochs; e++)
        {
            this.train();
            double lossSum = 0;
            int steps = 0;
            rng.Shuffle(order);
            for (int start = 0; start + 1 < n; start += batch)
            {
                int m = Math.Min(batch, n - start);
                if (m < 2) break; // BatchNorm needs two samples
                using var scope = NewDisposeScope();
                var rows = order.AsSpan(start, m).ToArray();
                var (x, y) = Batch(train, rows, d);
                optimizer.zero_grad();
                var loss = nn.functional.cross_entropy(forward(x), y);
                loss.backward();
                optimizer.step();
                lossSum += loss.item<float>();
                steps++;
            }
            LastLoss = lossSum / Math.Max(1, steps);
        }
        eval();
        long correct = 0;
        using (no_grad())
            for (int start = 0; start < test.Count; start += 256)
            {
                using var scope = NewDisposeScope();
                var rows = Enumerable.Range(start, Math.Min(256, test.Count - start)).ToArray();
                var (x, y) = Batch(test, rows, d);
                correct += forward(x).argmax(1).eq(y).sum().item<long>();
            }
        return (double)correct / test.Count;
    }

    private static (Tensor X, Tensor Y) Batch(Dataset data, int[] rows, int d)
    {
        var buffer = new float[rows.Length * d];
        for (int r = 0; r < rows.Length; r++) Array.Copy(data.Features.Data, (long)rows[r] * d, buffer, (long)r * d, d);
        return (tensor(buffer, [rows.Length, d]), tensor(rows.Select(i => (long)data.Labels![i]).ToArray()));
    }
}
