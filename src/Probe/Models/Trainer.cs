using System.Globalization;
using Probe.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Models;

/// <summary>
/// What a <see cref="Trainer"/> callback sees at a checkpoint: the epoch (0 = before training), the model (in eval
/// mode, weights of that epoch), the run folder, the checkpoint's metrics, and <see cref="Extra"/>, a map whose
/// entries are stored in that checkpoint's run.json entry (values must be JSON-serializable).
/// </summary>
public sealed record EpochContext(int Epoch, nn.Module<Tensor, Tensor> Model, string RunDir, string CheckpointPath, CheckpointInfo Metrics, Dataset Data, SplitInfo Split)
{
    /// <summary>Extra metrics for this epoch's run.json entry.</summary>
    public Dictionary<string, object?> Extra => Metrics.Extra;
}

/// <summary>
/// Trains a <see cref="ModelSpec"/> network on a labelled data set with cross-entropy, writing a run folder:
/// <c>checkpoints/epoch-000.safetensors</c> (before training) and one per epoch, plus <c>run.json</c>
/// (rewritten after every checkpoint). Everything random follows <see cref="Seed"/>: initialisation
/// (torch.manual_seed), the split and the per-epoch shuffles; with the same data, settings and thread count the
/// checkpoints and run.json are byte-identical.
/// </summary>
/// <param name="Optimizer">"adam" or "sgd".</param>
/// <param name="Epochs">Passes over the training rows (0 writes only the initial checkpoint).</param>
/// <param name="BatchSize">Rows per optimizer step.</param>
/// <param name="LearningRate">Optimizer step size.</param>
/// <param name="Seed">Seeds initialisation, split and shuffles.</param>
/// <param name="TestFraction">Fraction of rows held out for testing, chosen by a seeded shuffle (ignored when <see cref="TestIndices"/> is set).</param>
public sealed record Trainer(
    string Optimizer = "adam",
    int Epochs = 10,
    int BatchSize = 32,
    double LearningRate = 1e-3,
    int Seed = 0,
    double TestFraction = 0.2)
{
    /// <summary>An explicit test split (row indices); overrides <see cref="TestFraction"/>.</summary>
    public int[]? TestIndices { get; init; }

    /// <summary>SGD momentum (ignored by Adam).</summary>
    public double Momentum { get; init; }

    /// <summary>
    /// libtorch intra-op threads during training (0 = leave the process setting), restored afterwards. Default 1:
    /// float sums, and so checkpoints, can depend on the thread count; small batches train faster on one thread on
    /// these 2-core machines. (A NaN loss once reported for a tiny CNN with 2 threads never reproduced, with 1 or 2
    /// threads, at that commit or since; see CnnTrainingNaNTests.) Note the setting is process-wide while training runs.
    /// </summary>
    public int Threads { get; init; } = 1;

    /// <summary>Called at epoch 0, every <see cref="CallbackEvery"/> epochs and at the last epoch, after the checkpoint is written.</summary>
    public Action<EpochContext>? OnCheckpoint { get; init; }

    /// <summary>Stops training between batches when cancelled (the caller removes the partial run folder).</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>
    /// Where training runs (default the CPU). The model is initialised on the CPU with <see cref="Seed"/> and then moved,
    /// so every device starts from the same weights; checkpoints are always written from CPU copies.
    /// </summary>
    public Probe.Capture.ComputeDevice Device { get; init; } = Probe.Capture.ComputeDevice.Cpu;

    /// <summary>How often (in epochs) <see cref="OnCheckpoint"/> runs.</summary>
    public int CallbackEvery { get; init; } = 1;

    /// <summary>Rows per batch when evaluating loss and accuracy (does not affect training).</summary>
    public int EvalBatchSize { get; init; } = 1024;

    /// <summary>Trains and writes the run folder <paramref name="runDir"/>; <paramref name="dataSpec"/> is recorded in run.json to say which data was used.</summary>
    public RunFolder Train(ModelSpec spec, Dataset data, string dataSpec, string runDir)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(data);
        Validate(spec, data);
        var split = MakeSplit(data.Count);
        var testSet = new HashSet<int>(split.TestIndices);
        int[] trainRows = Enumerable.Range(0, data.Count).Where(i => !testSet.Contains(i)).ToArray();
        if (trainRows.Length == 0) throw new ProbeException("The training split is empty: lower the test fraction or give fewer test indices.");

        var device = Device.Resolve();
        Directory.CreateDirectory(Path.Combine(runDir, "checkpoints"));
        // libtorch's thread count is process-wide: changing it while another thread runs a kernel is a race (rare NaN
        // losses, and once a libtorch check failing in a test run), so it is set only when it must change.
        int oldThreads = get_num_threads();
        bool setThreads = Threads > 0 && Threads != oldThreads;
        if (setThreads) set_num_threads(Threads);
        // libtorch's oneDNN convolutions corrupted training on AVX-512 hosts (NaN gradients at random): off while training.
        using var noOneDnn = Native.OneDnn.Off();
        try
        {
            using var model = spec.Build(Seed);
            if (device.IsCuda) model.to(device.ToTorch());
            using var xAll = tensor(data.Features.Data, [data.Count, data.Features.Cols], device: device.ToTorch());
            using var yAll = tensor(data.Labels!.Select(l => (long)l).ToArray(), [data.Count], device: device.ToTorch());
            using var trainIdx = tensor(trainRows.Select(i => (long)i).ToArray(), [trainRows.Length], device: device.ToTorch());
            using var testIdx = tensor(split.TestIndices.Select(i => (long)i).ToArray(), [split.TestIndices.Length], device: device.ToTorch());
            using var xTrain = xAll.index_select(0, trainIdx);
            using var yTrain = yAll.index_select(0, trainIdx);
            using var xTest = xAll.index_select(0, testIdx);
            using var yTest = yAll.index_select(0, testIdx);

            using var opt = MakeOptimizer(model);
            var info = new RunInfo(RunFolder.FormatName, spec.ToString(), dataSpec, Seed,
                new OptimizerInfo(Optimizer, LearningRate, Momentum, BatchSize, Epochs, Threads), split, []);
            var shuffle = new Random(unchecked(Seed * 1_000_003 + 1));
            int[] order = Enumerable.Range(0, trainRows.Length).ToArray();

            Checkpoint(0, model, xTrain, yTrain, xTest, yTest, info, runDir, data, spec);
            for (int epoch = 1; epoch <= Epochs; epoch++)
            {
                model.train();
                Shuffle(order, shuffle);
                for (int start = 0; start < order.Length; start += BatchSize)
                {
                    Cancellation.ThrowIfCancellationRequested();
                    using var scope = NewDisposeScope();
                    int n = Math.Min(BatchSize, order.Length - start);
                    var idx = tensor(order.AsSpan(start, n).ToArray().Select(i => (long)i).ToArray(), [n], device: device.ToTorch());
                    var xb = xTrain.index_select(0, idx);
                    var yb = yTrain.index_select(0, idx);
                    opt.zero_grad();
                    var loss = nn.functional.cross_entropy(model.call(xb), yb);
                    loss.backward();
                    opt.step();
                }
                Checkpoint(epoch, model, xTrain, yTrain, xTest, yTest, info, runDir, data, spec);
            }
            return new RunFolder(Path.GetFullPath(runDir), info);
        }
        finally
        {
            if (setThreads) set_num_threads(oldThreads);
        }
    }

    void Checkpoint(int epoch, nn.Module<Tensor, Tensor> model, Tensor xTrain, Tensor yTrain, Tensor xTest, Tensor yTest,
        RunInfo info, string runDir, Dataset data, ModelSpec spec)
    {
        model.eval();
        var (trainLoss, trainAcc) = Evaluate(model, xTrain, yTrain);
        double? testLoss = null, testAcc = null;
        if (xTest.shape[0] > 0) { var (l, a) = Evaluate(model, xTest, yTest); testLoss = l; testAcc = a; }
        if (!double.IsFinite(trainLoss))
            throw new ProbeException($"Training diverged at epoch {epoch}: the training loss is {trainLoss.ToString(CultureInfo.InvariantCulture)}. Lower the learning rate (now {LearningRate.ToString(CultureInfo.InvariantCulture)}).");
        string file = $"checkpoints/epoch-{epoch.ToString("D3", CultureInfo.InvariantCulture)}.safetensors";
        string path = Path.Combine(runDir, file);
        Weights.Save(model, path, new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["probe_model"] = spec.ToString(),
            ["probe_epoch"] = epoch.ToString(CultureInfo.InvariantCulture),
        });
        var cp = new CheckpointInfo(epoch, file, trainLoss, trainAcc, testLoss, testAcc, []);
        info.Checkpoints.Add(cp);
        if (OnCheckpoint != null && (epoch % Math.Max(1, CallbackEvery) == 0 || epoch == Epochs))
            OnCheckpoint(new EpochContext(epoch, model, Path.GetFullPath(runDir), Path.GetFullPath(path), cp, data, info.Split));
        model.eval();
        RunFolder.Write(runDir, info);
    }

    (double Loss, double Accuracy) Evaluate(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y)
    {
        using var noGrad = no_grad();
        long n = x.shape[0];
        double lossSum = 0;
        long correct = 0;
        for (long start = 0; start < n; start += EvalBatchSize)
        {
            using var scope = NewDisposeScope();
            long len = Math.Min(EvalBatchSize, n - start);
            var xb = x.narrow(0, start, len);
            var yb = y.narrow(0, start, len);
            var logits = model.call(xb);
            lossSum += nn.functional.cross_entropy(logits, yb, reduction: nn.Reduction.Sum).to_type(ScalarType.Float64).item<double>();
            correct += logits.argmax(1).eq(yb).sum().item<long>();
        }
        return (lossSum / n, (double)correct / n);
    }

    torch.optim.Optimizer MakeOptimizer(nn.Module model) => Optimizer switch
    {
        "adam" => optim.Adam(model.parameters(), LearningRate),
        "sgd" => optim.SGD(model.parameters(), LearningRate, momentum: Momentum),
        _ => throw new ProbeException($"Unknown optimizer '{Optimizer}'; valid optimizers: adam, sgd."),
    };

    void Validate(ModelSpec spec, Dataset data)
    {
        if (Optimizer is not ("adam" or "sgd")) throw new ProbeException($"Unknown optimizer '{Optimizer}'; valid optimizers: adam, sgd.");
        if (Epochs < 0) throw new ProbeException($"Epochs must be 0 or more, got {Epochs}.");
        if (BatchSize <= 0) throw new ProbeException($"Batch size must be positive, got {BatchSize}.");
        if (EvalBatchSize <= 0) throw new ProbeException($"Evaluation batch size must be positive, got {EvalBatchSize}.");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new ProbeException($"Learning rate must be a positive number, got {LearningRate.ToString(CultureInfo.InvariantCulture)}.");
        if (!(TestFraction >= 0 && TestFraction < 1)) throw new ProbeException($"Test fraction must be in [0, 1), got {TestFraction.ToString(CultureInfo.InvariantCulture)}.");
        if (Threads < 0) throw new ProbeException($"Threads must be 0 (keep the current setting) or positive, got {Threads}.");
        data.Validate();
        if (data.Labels is null) throw new ProbeException($"Data set '{data.Name}' has no labels; training needs class labels.");
        if (data.Count == 0) throw new ProbeException($"Data set '{data.Name}' is empty.");
        if (data.Features.Cols != spec.InputSize)
            throw new ProbeException($"Model {spec} takes {spec.InputSize} values per sample ([{string.Join(", ", spec.InputShape)}]) but data set '{data.Name}' has {data.Features.Cols} ([{string.Join(", ", data.SampleShape)}]).");
        if (data.ClassCount > spec.Outputs)
            throw new ProbeException($"Data set '{data.Name}' has labels up to {data.ClassCount - 1} but model {spec} has only {spec.Outputs} outputs.");
        data.Features.EnsureFinite($"Data set '{data.Name}'");
    }

    SplitInfo MakeSplit(int n)
    {
        if (TestIndices is { } given)
        {
            var sorted = given.Distinct().Order().ToArray();
            if (sorted.Length != given.Length) throw new ProbeException("The given test indices contain duplicates.");
            if (sorted.Length > 0 && (sorted[0] < 0 || sorted[^1] >= n))
                throw new ProbeException($"Test indices must lie in [0, {n}); got {sorted[0]}..{sorted[^1]}.");
            return new SplitInfo(n, (double)sorted.Length / n, Seed, true, sorted);
        }
        int testCount = (int)Math.Round(n * TestFraction, MidpointRounding.AwayFromZero);
        int[] perm = Enumerable.Range(0, n).ToArray();
        Shuffle(perm, new Random(Seed));
        return new SplitInfo(n, TestFraction, Seed, false, perm.Take(testCount).Order().ToArray());
    }

    static void Shuffle(int[] a, Random rng)
    {
        for (int i = a.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (a[i], a[j]) = (a[j], a[i]);
        }
    }
}
