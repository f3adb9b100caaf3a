using System.Runtime.InteropServices;
using Probe.Data;
using Probe.Models;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Models;

/// <summary>
/// A CNN whose conv2 has 8 channels once gave a NaN training loss in 11 and 20 of 40 runs after the memory freed
/// before training had been filled with NaN (reported at commit 5abd70d, which moved the trainer test to 16 channels).
/// It never reproduced since, not even at that commit: there, on this kind of host (AMD EPYC, AVX-512), the same
/// driver gave 0 non-finite losses in 40 runs each for 4-8-16 and 8-8-16, Adam and SGD, 1 and 2 libtorch threads,
/// fixed and varied seeds, NaN churn before each run, a churning thread and malloc perturbation, standalone and in
/// the xunit host; and the training path (Trainer, ProbeNet, ModelSpec.Build) is the same from the Trainer's first
/// commit to today apart from a cancellation check, so there is no change to bisect. The only libtorch path that tells 8 channels from 16 on these machines is
/// oneDNN's: for conv2 with 8 output channels its backward-weights kernel is jit:avx2 on 8-channel blocks, while every
/// other convolution step runs jit:avx512_core on 16-channel blocks (ONEDNN_VERBOSE=1). This trains that CNN 50 times
/// and requires every loss to be finite, with memory churn that exposes both kinds of memory error:
/// <list type="bullet">
/// <item>glibc's perturbation (mallopt M_PERTURB, as MALLOC_PERTURB_) alternately fills every block malloc hands out with
/// 0x7f bytes (3.4e38 as float32: a read of memory nobody wrote overflows to inf/NaN) or every freed block with 0xff
/// bytes (NaN: a read of freed memory, such as a disposed tensor's storage, gives NaN);</item>
/// <item>a thread that keeps allocating NaN-filled tensors of many sizes and freeing them while training runs, so freed
/// memory is quickly reused by someone else.</item>
/// </list>
/// </summary>
[Collection(SerialTorchCollection.Name)]
public class CnnTrainingNaNTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "probe-nan-" + Guid.NewGuid().ToString("N"));

    public CnnTrainingNaNTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int Mallopt(int param, int value);
    const int M_PERTURB = -6; // glibc malloc.h

    /// <summary>Sets glibc's malloc perturbation byte (0 = off); false where there is no glibc.</summary>
    static bool Perturb(int value)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try { return Mallopt(M_PERTURB, value) == 1; }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { return false; }
    }

    /// <summary>Allocates native blocks of many sizes filled with NaN and frees them.</summary>
    internal static void ChurnWithNaN(int round)
    {
        var blocks = new List<Tensor>();
        for (int size = 16; size <= 1 << 18; size = size * 3 / 2 + 7 * (round % 5))
            blocks.Add(full(size, float.NaN));
        foreach (var b in blocks) b.Dispose();
    }

    [Fact]
    public void Cnn_with_8_channel_conv2_trains_to_finite_losses_50_times_under_memory_churn()
    {
        var data = ReferenceFixtures.Digits().Subset(Enumerable.Range(0, 200).ToArray());
        var spec = ModelSpec.Parse("cnn:8x8:10:4-8-16");
        var failures = new List<string>();
        using var stop = new CancellationTokenSource();
        var churner = new Thread(() => { int k = 0; while (!stop.IsCancellationRequested) ChurnWithNaN(k++); }) { IsBackground = true };
        churner.Start();
        try
        {
            for (int run = 0; run < 50; run++)
            {
                ChurnWithNaN(run);
                // the same model and data as TrainerTests' CNN test (seed 0, a ragged last batch of 4) on even runs
                Perturb(run % 2 == 0 ? 0x80 : 0xff);
                try
                {
                    var r = new Trainer(Epochs: 1, Seed: run % 4 == 0 ? 0 : run) { TestIndices = [5, 1, 7, 100] }
                        .Train(spec, data, "digits", Path.Combine(_dir, "r" + run));
                    foreach (var c in r.Info.Checkpoints)
                        if (!double.IsFinite(c.TrainLoss) || !(c.TestLoss is { } t && double.IsFinite(t)))
                            failures.Add($"run {run} epoch {c.Epoch}: train loss {c.TrainLoss}, test loss {c.TestLoss}");
                }
                catch (ProbeException e) { failures.Add($"run {run}: {e.Message}"); }
                finally { Perturb(0); }
            }
        }
        finally { stop.Cancel(); churner.Join(); }
        Assert.True(failures.Count == 0, $"{failures.Count} of 50 runs gave a non-finite loss:\n" + string.Join("\n", failures));
    }

    /// <summary>
    /// The NaN found (2026-12-01, AVX-512 host): after other work in the process, the report tests' ResNet and CNN gave
    /// NaN gradients at random in libtorch's oneDNN weight-gradient convolutions (<see cref="Probe.Native.OneDnn"/>;
    /// two test classes together failed 4 runs in 4). The Trainer turns oneDNN off while it trains and restores it
    /// after (checked from a callback, which runs inside training); here each model trains 6 times after the work that
    /// exposed it and gives the same finite losses every time, to the last bit.
    /// </summary>
    [Fact]
    public void Training_turns_onednn_off_and_gives_the_same_finite_losses_every_run()
    {
        bool? before = Probe.Native.OneDnn.Enabled;
        if (OperatingSystem.IsLinux()) Assert.NotNull(before);
        var data = ReferenceFixtures.Digits();
        bool? during = null;
        var probe = new Trainer(Epochs: 1, Seed: 0) { OnCheckpoint = _ => during = Probe.Native.OneDnn.Enabled };
        probe.Train(ModelSpec.Parse("mlp:64-16-10:relu"), data, "digits", Path.Combine(_dir, "probe"));
        if (before != null) Assert.False(during);
        Assert.Equal(before, Probe.Native.OneDnn.Enabled);

        foreach (var (spec, rows, epochs) in new[] { ("cnn:8x8:10:4-8-16", data.Count, 2), ("resnet:18:w4:c10:1x8x8", 300, 1) })
        {
            var losses = new List<string>();
            for (int run = 0; run < 6; run++)
            {
                // What the report does before it trains in the failing tests: a report of another run.
                var mlp = new Trainer(Epochs: 1, Seed: run).Train(ModelSpec.Parse("mlp:64-16-10:relu"), data, "digits", Path.Combine(_dir, $"mlp{spec[..3]}{run}"));
                Probe.Reporting.Report.ForRuns([new Probe.Reporting.ReportRun("run", mlp)], data, "digits",
                    new Probe.Reporting.ReportSettings(Seed: 0, MaxSamples: 200, TsneIterations: 30), Path.Combine(_dir, $"report{spec[..3]}{run}"));
                try
                {
                    var r = new Trainer("adam", epochs, 32, 0.01, Seed: 1).Train(ModelSpec.Parse(spec), data.Subset(Enumerable.Range(0, rows).ToArray()), "digits", Path.Combine(_dir, $"{spec[..3]}{run}"));
                    losses.Add(string.Join(" ", r.Info.Checkpoints.Select(c => c.TrainLoss.ToString("R", System.Globalization.CultureInfo.InvariantCulture))));
                }
                catch (ProbeException e) { losses.Add(e.Message); }
            }
            Assert.True(losses.Distinct().Count() == 1 && !losses[0].Contains("NaN"), spec + " runs gave:\n" + string.Join("\n", losses));
        }
    }
}
