typedef int tsv_placeholder;
