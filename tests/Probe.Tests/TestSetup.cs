using System.Runtime.CompilerServices;

namespace Probe.Tests;

internal static class TestSetup
{
    /// <summary>
    /// xunit runs test classes in parallel threads of one process. libtorch's intra-op thread count is process-wide,
    /// and changing it while another thread is inside a parallel kernel was seen to give rare NaN losses in training
    /// (see the Trainer's Threads setting). The tests therefore fix it to one libtorch thread once, before any test
    /// runs, so no test changes it under another; managed parallel code (t-SNE, CKA) still uses both cores.
    /// </summary>
    [ModuleInitializer]
    internal static void FixTorchThreads() => TorchSharp.torch.set_num_threads(1);
}
