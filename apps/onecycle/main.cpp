// cygnet_onecycle: see --help. All the work is in apps/common (run_app).
#include "apps/common/trainer.h"

int main(int argc, char** argv) { return cyg::app::run_app(cyg::app::AppKind::OneCycle, argc, argv); }
